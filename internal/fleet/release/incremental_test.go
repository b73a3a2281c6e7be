package release

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/testenv"

	// The inventory's clusters are the agent link's directory.
	_ "github.com/amp-edge/amp/internal/provision/cluster"
)

// TestIncrementalDesiredState: over random sequences of changes — a
// bundle's deployments rewritten (entries added, dropped, staged at
// another version, reported active, state only), a bundle deleted and
// declared again with the same deployments, a version's chart
// prepared after clusters were staged at it, a bundle's values or a
// cluster's labels changed — the agent link's cached desired state of
// every cluster, rebuilt only where a change names it, equals the state
// a fresh link builds from scratch.
func TestIncrementalDesiredState(t *testing.T) {
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	ctx := context.Background()
	const nClusters = 8
	var inv strings.Builder
	inv.WriteString(`{"cluster": [`)
	clusters := make([]string, nClusters)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("c%d", i)
		if i > 0 {
			inv.WriteString(",")
		}
		fmt.Fprintf(&inv, `{"cluster-id": %q, "label": [{"name": "zone", "value": "z%d"}]}`, clusters[i], i%2)
	}
	inv.WriteString(`]}`)
	if err := put(t, eng, "/inventory/v1.0.0", inv.String()); err != nil {
		t.Fatal(err)
	}
	bundles := []string{"a", "b"}
	declare := func(b string) {
		if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"bundle": [{"bundle-id": %q,
		  "chart": {"repository": "https://charts.example.com", "name": %q, "version": "1.0.0"},
		  "values": "n: 0\n", "target": [{"name": "z1", "match-label": [{"name": "zone", "value": "z1"}], "values": "zone: one\n"}]}]}`, b, b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bundles {
		declare(b)
	}
	last := map[string]string{}    // each bundle's deployments as last written
	hub, err := edge.For(eng, nil) // the hub the preparer's announcements reach
	if err != nil {
		t.Fatal(err)
	}
	digests := func(h *edge.Hub) map[string]string {
		out := map[string]string{}
		for _, c := range clusters {
			d, err := h.Desired(ctx, c, 0, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			out[c] = d.Digest
		}
		return out
	}
	digests(hub) // every cluster cached from here on
	set := eng.Schema().Set(fleet.SetName, "")
	versions := []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0"}
	prepared := map[string]bool{}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed) // a failure also lists its steps
	rnd := rand.New(rand.NewPCG(13, seed))

	var steps []string
	for step := range 120 {
		b := bundles[rnd.IntN(len(bundles))]
		switch k := rnd.IntN(11); {
		case k < 6: // the deployments rewritten
			var list []string
			for _, c := range clusters {
				if rnd.IntN(4) == 0 {
					continue
				}
				e := fmt.Sprintf(`{"cluster": %q, "state": %q`, c, []string{"pending", "out-of-sync", "ready"}[rnd.IntN(3)])
				if v := rnd.IntN(len(versions) + 1); v < len(versions) {
					e += fmt.Sprintf(`, "staged-version": %q`, versions[v])
				}
				if v := rnd.IntN(len(versions) + 1); v < len(versions) {
					e += fmt.Sprintf(`, "active-version": %q`, versions[v])
				}
				if rnd.IntN(3) == 0 {
					e += `, "helm-test": true`
				}
				list = append(list, e+"}")
			}
			last[b] = "[" + strings.Join(list, ",") + "]"
			stage(t, eng, b, last[b])
			steps = append(steps, fmt.Sprintf("%d: %s deployments %d entries", step, b, len(list)))
		case k < 8: // a version's chart prepared, as the preparer does
			v := versions[rnd.IntN(len(versions))]
			if prepared[b+"/"+v] {
				continue
			}
			prepared[b+"/"+v] = true
			chart := wire.Chart{Name: b, Version: v, Digest: edge.ChartDigest([]byte(b + v))}
			if err := record(eng.Meta(), b, v, Prepared{Chart: chart}); err != nil {
				t.Fatal(err)
			}
			announce(eng, set, want{bundle: b, version: v})
			steps = append(steps, fmt.Sprintf("%d: %s %s prepared", step, b, v))
		case k < 9: // the bundle's values
			if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"bundle": [{"bundle-id": %q, "values": "n: %d\n"}]}`, b, step)); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, fmt.Sprintf("%d: %s values", step, b))
		case k < 10: // deleted, declared again, the same deployments written
			remove(t, eng, "/fleet/v1.0.0/bundle/"+b)
			declare(b)
			if last[b] != "" {
				stage(t, eng, b, last[b])
			}
			steps = append(steps, fmt.Sprintf("%d: %s deleted and declared again", step, b))
		default: // a cluster's labels, which choose the targets' values
			c := clusters[rnd.IntN(nClusters)]
			if err := put(t, eng, "/inventory/v1.0.0", fmt.Sprintf(`{"cluster": [{"cluster-id": %q, "label": [{"name": "zone", "value": "z%d"}]}]}`, c, rnd.IntN(2))); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, fmt.Sprintf("%d: %s labels", step, c))
		}
		// A fresh link builds every cluster's state from scratch; the
		// running one has until the deadline to apply the change.
		fresh, err := edge.NewHub(eng, edge.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := digests(fresh)
		fresh.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := digests(hub)
			var wrong []string
			for _, c := range clusters {
				if got[c] != want[c] {
					wrong = append(wrong, c)
				}
			}
			if len(wrong) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the steps\n%s\nclusters %v differ from a full rebuild", strings.Join(steps, "\n"), wrong)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
