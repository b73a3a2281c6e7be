package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/idp"
)

// guiOrigin is where `ng serve` runs Aether's GUI in development.
const guiOrigin = "http://localhost:4200"

// gui sends a request the way aether-roc-gui's generated client does:
// Accept: application/json, a JSON body with its Content-Type, and the
// Origin of the page when it runs beside the API in development.
func gui(t *testing.T, s *testenv.Server, want int, method, path, body string) []byte {
	t.Helper()
	return s.Must(t, want, method, path, body, "Accept", "application/json", "Origin", guiOrigin)
}

// TestAetherGUIRequestShapes replays what aether-roc-gui (the unmodified
// Angular application of onosproject/aether-roc-gui) sends while an operator
// uses it, in its own request shapes (src/openapi3 services, the basket of
// src/app/basket.service.ts, the history of
// src/app/basket/transaction-list): the dashboard and list views, an edit
// committed from the basket, a create and a delete in one basket commit, a
// delete whose values are placeholders, an empty basket, and the history
// view, through the real binary with the CORS origin of docs/aether-gui.md.
func TestAetherGUIRequestShapes(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--allow-cors-origin", guiOrigin)
	ctx := context.Background()

	// The browser's preflight before the basket's PATCH: answered for the
	// GUI's origin, refused (and counted) for any other.
	code, _, h, err := s.Do(ctx, "OPTIONS", "/aether-roc-api", "", "Authorization", "", "Origin", guiOrigin,
		"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "authorization,content-type")
	if err != nil || code != 204 || h.Get("Access-Control-Allow-Origin") != guiOrigin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from the GUI's origin: %d %v %v", code, err, h)
	}
	code, _, h, _ = s.Do(ctx, "OPTIONS", "/aether-roc-api", "", "Authorization", "", "Origin", "https://evil.example",
		"Access-Control-Request-Method", "PATCH")
	if code != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", code, h)
	}

	// Dashboard and the eleven list views, for every enterprise.
	var targets []struct{ Name string }
	json.Unmarshal(gui(t, s, 200, "GET", "/targets", ""), &targets)
	if len(targets) < 2 {
		t.Fatalf("targets: %v", targets)
	}
	for _, tg := range targets {
		base := "/aether/v2.1.x/" + tg.Name
		for _, l := range []string{"application", "template", "traffic-class"} {
			gui(t, s, 200, "GET", base+"/"+l, "")
		}
		var sites []map[string]any
		json.Unmarshal(gui(t, s, 200, "GET", base+"/site", ""), &sites)
		for _, site := range sites {
			sb := base + "/site/" + site["site-id"].(string)
			for _, l := range []string{"device-group", "device", "ip-domain", "sim-card", "slice", "small-cell", "upf"} {
				gui(t, s, 200, "GET", sb+"/"+l, "")
			}
		}
	}
	_, _, h, _ = s.Do(ctx, "GET", "/targets", "", "Origin", guiOrigin)
	if h.Get("Access-Control-Allow-Origin") != guiOrigin || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "X-AMP-Transaction-Index") {
		t.Fatalf("CORS headers on a GET from the GUI's origin: %v", h)
	}

	site := "/aether/v2.1.x/acme/site/acme-chicago"
	before := lastIndex(t, s)

	// Slice edit view: read, then commit the basket holding one change,
	// with the mandatory leaves named in additionalProperties.unchanged.
	gui(t, s, 200, "GET", site+"/slice/video", "")
	gui(t, s, 200, "GET", site+"/slice/video/upf/values", "")
	edit := `{"default-target":"default-ent","Updates":{"site-2.1.0":[{"additionalProperties":{"enterprise-id":"acme"},"site-id":"acme-chicago",
		"slice":[{"slice-id":"video","description":"Cameras of the Chicago store","additionalProperties":{"unchanged":"sst,sd,default-behavior,upf"}}]}]},"Deletes":{}}`
	gui(t, s, 200, "PATCH", "/aether-roc-api", edit)

	// One basket: a new traffic class and the deletion of a small cell from
	// its list view (keys only): one transaction.
	both := `{"default-target":"default-ent",
		"Updates":{"traffic-class-2.1.0":[{"additionalProperties":{"enterprise-id":"acme"},"traffic-class-id":"class-9","qci":9,"arp":1,"pelr":6,"pdb":100}]},
		"Deletes":{"site-2.1.0":[{"additionalProperties":{"enterprise-id":"acme"},"site-id":"acme-chicago","small-cell":[{"small-cell-id":"cell-2"}]}]}}`
	gui(t, s, 200, "PATCH", "/aether-roc-api", both)
	gui(t, s, 404, "GET", site+"/small-cell/cell-2", "")
	gui(t, s, 200, "GET", "/aether/v2.1.x/acme/traffic-class/class-9", "")
	if got := lastIndex(t, s); got != before+2 {
		t.Fatalf("two basket commits moved the index from %d to %d", before, got)
	}

	// A delete whose value is a placeholder (the basket sends the old value,
	// here an empty string the model's length would refuse): the real
	// validator ignores minLength under /Deletes, and so does AMP.
	placeholder := `{"default-target":"default-ent","Deletes":{"site-2.1.0":[{"additionalProperties":{"enterprise-id":"acme"},"site-id":"acme-chicago",
		"slice":[{"slice-id":"video","description":""}]}]}}`
	gui(t, s, 200, "PATCH", "/aether-roc-api", placeholder)
	gui(t, s, 404, "GET", site+"/slice/video/description", "")

	// An empty basket changes nothing and records nothing.
	current := lastIndex(t, s)
	code, _, h, _ = s.Do(ctx, "PATCH", "/aether-roc-api", `{"default-target":"default-ent","Updates":{},"Deletes":{}}`, "Accept", "application/json")
	if code != 200 || h.Get("X-AMP-Transaction-Unchanged") != "true" || lastIndex(t, s) != current {
		t.Fatalf("empty basket: %d %v, index %d -> %d", code, h, current, lastIndex(t, s))
	}

	// The history view: onos-config Transactions, oldest first, each with
	// details.change[0]['path-values'] (the GUI reads exactly that).
	var txns []struct {
		ID      string `json:"id"`
		Index   uint64 `json:"index"`
		Meta    struct{ Created, Updated string }
		Status  struct{ State string }
		Details struct {
			Change []struct {
				TargetName string `json:"target-name"`
				PathValues []struct {
					Path      string `json:"path"`
					PathValue struct {
						Deleted bool `json:"deleted"`
						Value   struct{ Value, Type string }
					} `json:"path-value"`
				} `json:"path-values"`
			} `json:"change"`
		} `json:"details"`
	}
	if err := json.Unmarshal(gui(t, s, 200, "GET", "/transactions", ""), &txns); err != nil {
		t.Fatal(err)
	}
	if len(txns) != int(current) {
		t.Fatalf("history view lists %d transactions, want %d", len(txns), current)
	}
	for i, tx := range txns {
		if len(tx.Details.Change) == 0 || len(tx.Details.Change[0].PathValues) == 0 || tx.ID == "" || tx.Meta.Created == "" || tx.Status.State != "APPLIED" {
			t.Fatalf("transaction %d is not what the GUI reads: %+v", tx.Index, tx)
		}
		if i > 0 && tx.Index <= txns[i-1].Index {
			t.Fatalf("not oldest first: %d after %d", tx.Index, txns[i-1].Index)
		}
	}
	last := txns[len(txns)-1].Details.Change[0]
	if last.TargetName != "acme" || last.PathValues[0].Path != "/site[site-id=acme-chicago]/slice[slice-id=video]/description" || !last.PathValues[0].PathValue.Deleted {
		t.Fatalf("the placeholder delete in history: %+v", last)
	}
	edited := txns[len(txns)-3].Details.Change[0].PathValues[0]
	if edited.PathValue.Value.Value != "Cameras of the Chicago store" || edited.PathValue.Value.Type != "STRING" {
		t.Fatalf("the edit in history: %+v", edited)
	}

	// A body without Content-Type is refused as aether-roc-api's validator
	// refuses it, naming the header.
	code, b, _, _ := s.Do(ctx, "POST", "/aether/v2.1.x/acme/traffic-class/class-8", `{"qci":8}`, "Content-Type", "")
	if code != 400 || !strings.Contains(string(b), `"path":"Content-Type"`) {
		t.Fatalf("POST without Content-Type: %d %s", code, b)
	}

	// The OpenAPI documents where aether-roc-api serves them, by Accept.
	for _, doc := range []string{"/aether-2.1.0-openapi3.yaml", "/aether-top-level-openapi3.yaml"} {
		for accept, want := range map[string]string{"application/json": `"openapi"`, "application/yaml": "openapi: 3.0.3", "*/*": "openapi: 3.0.3", "text/html": "<!DOCTYPE html>"} {
			code, b, _, _ := s.Do(ctx, "GET", doc, "", "Accept", accept)
			if code != 200 || !strings.Contains(string(b), want) {
				t.Errorf("GET %s Accept %s: %d %.80s", doc, accept, code, b)
			}
		}
	}
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, "amp_http_cors_preflight_refused_total 1") {
		t.Errorf("the refused preflight is not counted:\n%s", grepLines(m, "cors"))
	}
}

// TestAetherGUIClientTokens: Aether's GUI logs users in as its own OIDC
// client, aether-roc-gui, so their tokens carry that audience. AMP, started
// for its own client and the GUI's (--oidc-audiences), accepts them with the
// users' rights; a token of the GUI's client is refused, naming the
// audience, by a server started for AMP's client alone.
func TestAetherGUIClientTokens(t *testing.T) {
	p, err := idp.Run(context.Background(), idp.Options{Dir: t.TempDir(), ClientID: "aether-roc-gui"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", "amp", "--oidc-audiences", "aether-roc-gui")
	olivia, alice := p.Token(t, "olivia", "olivia-pw"), p.Token(t, "alice", "alice-pw")
	as := func(tok string) []string {
		return []string{"Authorization", "Bearer " + tok, "Accept", "application/json"}
	}
	s.Must(t, 200, "GET", "/aether/v2.1.x/starbucks/site", "", as(olivia)...)
	s.Must(t, 200, "GET", "/aether/v2.1.x/acme/site", "", as(alice)...)
	s.Must(t, 404, "GET", "/aether/v2.1.x/starbucks/site", "", as(alice)...)

	only := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", "amp")
	b := only.Must(t, 401, "GET", "/aether/v2.1.x/acme/site", "", as(alice)...)
	if !strings.Contains(string(b), "wrong audience") {
		t.Fatalf("a GUI token on a server for AMP's client alone: %s", b)
	}
}
