package schema_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// TestKeyResolverIsParseObjectKey: a KeyResolver answers every key, valid
// or not, as ParseObjectKey does (the same node, or the same error), once
// it has remembered the lists of earlier keys too: keys of one list with
// one and two key values, a list inside a container, an object key that
// is a container, and key values that break their type, are missing,
// badly escaped or followed by more.
func TestKeyResolverIsParseObjectKey(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "inventory", "0.1.x"), 0o755)
	yang := `module amp-rack {
  yang-version 1.1;
  namespace "urn:amp:rack";
  prefix rack;
  list rack {
    key "rack-id";
    leaf rack-id { type string { length "1..8"; pattern '[a-z][a-z0-9]*'; } }
    list slot {
      key "row unit";
      leaf row { type string { pattern '[a-z]'; } }
      leaf unit { type uint8 { range "1..52"; } }
    }
    container power {
      list feed {
        key "feed-id";
        leaf feed-id { type string; }
      }
    }
  }
}`
	if err := os.WriteFile(filepath.Join(dir, "inventory", "0.1.x", "amp-rack.yang"), []byte(yang), 0o644); err != nil {
		t.Fatal(err)
	}
	extra, err := schema.DirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := schema.Load(models.FS, extra)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"inventory/0.1.x/acme/rack/r1",
		"inventory/0.1.x/acme/rack/r1/slot/a/1",
		"inventory/0.1.x/acme/rack/r1/slot/a/2",
		"inventory/0.1.x/acme/rack/r1/slot/a/99",
		"inventory/0.1.x/acme/rack/r1/slot/a/x",
		"inventory/0.1.x/acme/rack/r1/slot/a",
		"inventory/0.1.x/acme/rack/r1/slot/a/1/more",
		"inventory/0.1.x/acme/rack/r1/slot/B/1",
		"inventory/0.1.x/acme/rack/r1/slot//1",
		"inventory/0.1.x/acme/rack/r1/slot/a%zz/1",
		"inventory/0.1.x/acme/rack/r1/slot/b/3/",
		"inventory/0.1.x/acme/rack/r2",
		"inventory/0.1.x/acme/rack/r2/power",
		"inventory/0.1.x/acme/rack/r2/power/feed/f1",
		"inventory/0.1.x/acme/rack/r2/power/feed/f%2F2",
		"inventory/0.1.x/acme/rack/r2/power/feed/f1/x",
		"inventory/0.1.x/acme/rack/r2/power/feed",
		"inventory/0.1.x/acme/rack/r2/feed/f1",
		"inventory/0.1.x/acme/rack/R3",
		"inventory/0.1.x/acme/rack/toolongname",
		"inventory/0.1.x/acme/rack/r4/slot/c/7",
		"inventory/0.1.x/starbucks/rack/r1/slot/a/1",
		"aether/2.1.x/acme/site/s1",
		"aether/2.1.x/acme/site/s1/sim-card/x1",
		"aether/2.1.x/acme/site/s1/sim-card/X1",
		"aether/2.1.x/acme/site/s1/monitoring/edge-device/e1",
		"aether/2.1.x/acme/site/s1/monitoring/edge-device/e-",
		"aether/9.9.x/acme/site/s1",
	}
	slices.Sort(keys)
	r := sch.NewKeyResolver()
	for round := range 2 {
		var wg sync.WaitGroup
		for _, key := range keys {
			wg.Add(1)
			go func() { // Node is safe for concurrent use
				defer wg.Done()
				want, wantErr := sch.ParseObjectKey(key)
				got, err := r.Node(key)
				switch {
				case (err == nil) != (wantErr == nil):
					t.Errorf("round %d: %s: error %v, ParseObjectKey's %v", round, key, err, wantErr)
				case err != nil && err.Error() != wantErr.Error():
					t.Errorf("round %d: %s: error %q, ParseObjectKey's %q", round, key, err, wantErr)
				case err == nil && got != want.Node:
					t.Errorf("round %d: %s: node %s, ParseObjectKey's %s", round, key, got.Name, want.Node.Name)
				}
			}()
		}
		wg.Wait()
	}
}
