package yanglint_test

import (
	"strings"
	"testing"
)

const (
	inventoryModule = "models/inventory/1.0.0/amp-inventory.yang"
	inventorySample = "test/testdata/inventory-1.0.0-sample.json"
)

// TestInventoryModelAndSample: the inventory set (models/inventory) is
// clean standard YANG 1.1 for yanglint, a sample site in it is valid
// configuration, and yanglint refuses what AMP's server refuses by the
// same statements: a VID twice at a site (unique), a cable to an
// interface the device lacks (leafref with a predicate), an address on an
// interface that does not exist (must), a position without a rack (must).
func TestInventoryModelAndSample(t *testing.T) {
	root := repoRoot(t)
	base := []string{"-p", "models/ietf", "-p", "models/amp"}
	if out, ok := run(t, root, append(base, inventoryModule)...); !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("yanglint %s: ok=%v\n%s", inventoryModule, ok, out)
	}
	check := append(append([]string{"-t", "config"}, base...), inventoryModule)
	refusals(t, root, check, inventorySample, []mutation{
		{"vid twice", `"name": "MGMT", "vid": 800`, `"name": "MGMT", "vid": 800}, {"name": "MGMT2", "vid": 800`, "Unique data leaf(s) \"vid\""},
		{"cable to a missing interface", `"interface": "gbe1"}, "b"`, `"interface": "gbe9"}, "b"`, "gbe9"},
		{"address on a missing interface", `"interface": "mgmt800",`, `"interface": "nope",`, "the interface does not exist on the device"},
		{"position without a rack", `"rack": "r1", "position": 20`, `"position": 20`, "a position needs a rack"},
	})
}
