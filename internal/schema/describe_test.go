package schema_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// TestDescribeRoundTrip: a client that rebuilds a set from its JSON
// description (GET /models?tree=true) sees the same paths, kinds, keys,
// config and mandatory flags and value types as the server.
func TestDescribeRoundTrip(t *testing.T) {
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range sch.Sets {
		raw, err := json.Marshal(set.Describe(true))
		if err != nil {
			t.Fatal(err)
		}
		var d schema.SetDescription
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		got, err := d.ModelSet()
		if err != nil {
			t.Fatalf("%s: %v", set.Name, err)
		}
		if got.Descriptor.Name != set.Name || got.Scope != set.Scope || got.CLIName != set.CLIName || len(got.Modules) != len(set.Modules) {
			t.Errorf("%s: descriptor %+v, want %+v", set.Name, got.Descriptor, set.Descriptor)
		}
		want := map[string]*schema.Node{}
		set.Root.Walk(func(n *schema.Node) { want[n.SchemaPath()] = n })
		count := 0
		got.Root.Walk(func(n *schema.Node) {
			count++
			w := want[n.SchemaPath()]
			if w == nil {
				t.Fatalf("%s: %s is not in the loaded set", set.Name, n.SchemaPath())
			}
			if n.Kind != w.Kind || n.Config != w.Config || n.Mandatory != w.Mandatory || n.IsKey() != w.IsKey() || len(n.Keys) != len(w.Keys) {
				t.Errorf("%s %s: rebuilt %v config=%v mandatory=%v key=%v, want %v %v %v %v", set.Name, n.SchemaPath(), n.Kind, n.Config, n.Mandatory, n.IsKey(), w.Kind, w.Config, w.Mandatory, w.IsKey())
			}
			if w.Type != nil {
				wt := w.Type
				for wt.Base == schema.TLeafref && wt.Target != nil {
					wt = wt.Target.Type
				}
				if n.Type == nil || n.Type.Base != wt.Base {
					t.Errorf("%s %s: type %+v, want base %v", set.Name, n.SchemaPath(), n.Type, wt.Base)
				}
			}
		})
		if count != len(want) {
			t.Errorf("%s: rebuilt %d nodes, want %d", set.Name, count, len(want))
		}
	}
	if _, err := (schema.SetDescription{}).ModelSet(); err == nil {
		t.Error("a description without a tree rebuilt a set")
	}
}
