package rest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// GET /transactions renders each transaction as onos-config does: per
// enterprise, one typed path-value per leaf set (a created object flattened
// into its leaves), deleted paths marked, oldest first.
func TestOnosTransactionShape(t *testing.T) {
	e := newEnv(t, true)
	base := "/aether/v2.1.x/acme/site/acme-chicago"
	e.want(200, "PATCH", base+"/upf/upf-1", `{"port":8806}`)
	e.want(201, "POST", "/aether/v2.1.x/acme/traffic-class/class-9", `{"qci":9,"arp":1,"pelr":6,"pdb":100}`)
	e.want(200, "DELETE", base+"/small-cell/cell-2", "")

	var txns []onosTransaction
	if err := json.Unmarshal([]byte(e.want(200, "GET", "/transactions?limit=3", "")), &txns); err != nil {
		t.Fatal(err)
	}
	if len(txns) != 3 || txns[0].Index+2 != txns[2].Index {
		t.Fatalf("want the newest 3, oldest first: %+v", txns)
	}
	values := func(tx onosTransaction) map[string]onosPathValue {
		if len(tx.Details.Change) != 1 || tx.Details.Change[0].TargetName != "acme" {
			t.Fatalf("changes of %d: %+v", tx.Index, tx.Details.Change)
		}
		out := map[string]onosPathValue{}
		for _, pv := range tx.Details.Change[0].PathValues {
			if pv.Path != pv.PathValue.Path {
				t.Errorf("path %q vs path-value path %q", pv.Path, pv.PathValue.Path)
			}
			out[pv.Path] = pv.PathValue
		}
		return out
	}
	port := values(txns[0])["/site[site-id=acme-chicago]/upf[upf-id=upf-1]/port"]
	if port.Value.Type != "UINT" || port.Value.Value != "8806" || port.Deleted {
		t.Errorf("port update: %+v", port)
	}
	created := values(txns[1])
	if qci := created["/traffic-class[traffic-class-id=class-9]/qci"]; qci.Value.Type != "UINT" || qci.Value.Value != "9" {
		t.Errorf("created traffic class, qci: %+v (all: %+v)", qci, created)
	}
	if id := created["/traffic-class[traffic-class-id=class-9]/traffic-class-id"]; id.Value.Type != "STRING" || id.Value.Value != "class-9" {
		t.Errorf("created traffic class, key: %+v", id)
	}
	del := values(txns[2])["/site[site-id=acme-chicago]/small-cell[small-cell-id=cell-2]"]
	if !del.Deleted || del.Value.Type != "EMPTY" {
		t.Errorf("deleted small cell: %+v", del)
	}
	for _, tx := range txns {
		if tx.Status.State != "APPLIED" || tx.Meta.Key != tx.ID || tx.Meta.Version != tx.Index || tx.Strategy.Synchronicity != "SYNCHRONOUS" {
			t.Errorf("transaction %d: %+v", tx.Index, tx)
		}
	}
	e.want(400, "GET", "/transactions?limit=1001", "")
}

// A bulk transaction lists a bounded number of its leaves.
func TestOnosTransactionBounded(t *testing.T) {
	e := newEnv(t, true)
	var sims []string
	for i := range 400 {
		sims = append(sims, fmt.Sprintf(`{"sim-id":"bulk-%d","imsi":"123456001%06d","display-name":"Bulk %d"}`, i, 500000+i, i))
	}
	e.want(200, "PATCH", "/aether-roc-api", `{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"acme-chicago","sim-card":[`+strings.Join(sims, ",")+`]}]}}`)
	var txns []onosTransaction
	json.Unmarshal([]byte(e.want(200, "GET", "/transactions?limit=1", "")), &txns)
	if len(txns) != 1 || len(txns[0].Details.Change) != 1 || len(txns[0].Details.Change[0].PathValues) != maxOnosPathValues {
		t.Fatalf("a transaction of 1,200 leaves lists %d", len(txns[0].Details.Change[0].PathValues))
	}
}
