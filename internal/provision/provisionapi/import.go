package provisionapi

import (
	"net/http"
	"strconv"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// importRoutes: POST /provision/import takes an inventory mapped from
// elsewhere (NetBox, the devicetype-library; internal/provision/netbox
// maps it on the client's side, which is where NetBox is reachable) and
// commits it as ONE transaction:
//
//	{"inventory": {…the set's root, as a JSON merge patch…}, "prune": false}
//
// The tree merges into the inventory (null clears a leaf), so importing
// the same data again changes nothing and a changed source changes only
// what changed. With prune, what the imported sites (and device types)
// hold that the tree does not is removed too. A deployment the tree
// names keeps AMP's kind and ordinal when it exists; a new one gets the
// lowest free ordinal. ?dry-run answers the changes without committing.
func importRoutes() []compat.Route {
	return []compat.Route{{Pattern: "POST /provision/import", Name: "provision-import", Bulk: true, Handler: importInventory}}
}

func importInventory(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set := inventory.Set(h.Schema())
	if set == nil {
		return schema.Errorf(schema.KindNotFound, "/provision/import", "model set %s %s is not loaded", inventory.SetName, inventory.Version)
	}
	base := schema.RESTBase(set)
	if err := h.Authorize(r, auth.Write, base); err != nil {
		return err // refused before the body is read
	}
	body, dry, err := h.ReadObject(r, `{"inventory": {…the inventory set's root…}, "prune": false}`)
	if err != nil {
		return err
	}
	var probs schema.Problems
	prune := false
	for k, v := range body {
		switch k {
		case "inventory":
			if _, ok := v.(map[string]any); !ok {
				probs.Add("/inventory", "must be an object: the inventory set's root, as GET %s answers it", base)
			}
		case "prune":
			b, ok := v.(bool)
			if !ok {
				probs.Add("/prune", "must be true or false")
			}
			prune = b
		default:
			probs.Add("/"+k, "unknown member %q (expected inventory, prune)", k)
		}
	}
	if _, ok := body["inventory"]; !ok {
		probs.Add("/inventory", "missing")
	}
	if err := probs.Err(); err != nil {
		return err
	}
	val, err := schema.DecodeJSON(set.Root, body["inventory"], base, false, schema.DecodeOptions{NullDeletes: true})
	if err != nil {
		return err
	}
	tree, _ := val.(map[string]any)
	cur := inventory.Load(h.Engine().Snapshot(), set)
	keepDeployments(set, tree, cur)
	root, err := schema.Resolve(set, "", nil)
	if err != nil {
		return err
	}
	edits := []config.Edit{{Op: config.OpMerge, Loc: root, Value: tree}}
	if prune {
		removes, err := pruneEdits(set, tree, cur)
		if err != nil {
			return err
		}
		edits = append(edits, removes...)
	}
	h.Touch(r, base)
	return h.Commit(w, r, dry, edits)
}

// keepDeployments leaves an existing deployment as AMP has it (its kind
// and ordinal are AMP's: NetBox has no deployments) and gives a new one
// the lowest ordinal its site has free.
func keepDeployments(set *schema.ModelSet, tree map[string]any, cur *inventory.Inventory) {
	ordinal := set.Root.Child("site").Child("deployment").Child("ordinal")
	for _, s := range inventory.Entries(tree, "site") {
		deps, ok := s["deployment"].([]any)
		if !ok {
			continue
		}
		site := cur.Sites[str(s, "site-id")]
		used := map[int]bool{}
		if site != nil {
			for _, d := range site.Deployments {
				used[d.Ordinal] = true
			}
		}
		kept := deps[:0]
		for _, e := range deps {
			d, _ := e.(map[string]any)
			if site != nil && site.Deployments[str(d, "deployment-id")] != nil {
				continue
			}
			if _, given := d["ordinal"]; !given {
				for n := 0; n <= 9; n++ {
					if !used[n] {
						v, err := ordinal.Type.Parse(strconv.Itoa(n))
						if err == nil {
							d["ordinal"], used[n] = v, true
						}
						break
					}
				}
			}
			kept = append(kept, d)
		}
		s["deployment"] = kept
	}
}

// pruneEdits removes what the tree's sites and device types hold in AMP
// that the tree does not, and the addresses at those sites it does not
// name.
func pruneEdits(set *schema.ModelSet, tree map[string]any, cur *inventory.Inventory) ([]config.Edit, error) {
	var paths [][]string
	gone := func(list []map[string]any, key string, have []string, under ...string) {
		in := map[string]bool{}
		for _, e := range list {
			in[str(e, key)] = true
		}
		for _, id := range have {
			if !in[id] {
				paths = append(paths, append(append([]string{}, under...), id))
			}
		}
	}
	for _, dt := range inventory.Entries(tree, "device-type") {
		old := cur.DeviceTypes[str(dt, "device-type-id")]
		if old == nil || dt["interface-template"] == nil {
			continue
		}
		var names []string
		for _, t := range old.Interfaces {
			names = append(names, t.Name)
		}
		gone(inventory.Entries(dt, "interface-template"), "name", names, "device-type", old.ID, "interface-template")
	}
	sites := map[string]bool{}
	for _, s := range inventory.Entries(tree, "site") {
		old := cur.Sites[str(s, "site-id")]
		if old == nil {
			continue
		}
		sites[old.ID] = true
		at := func(list string) []string { return []string{"site", old.ID, list} }
		gone(inventory.Entries(s, "rack"), "rack-id", inventory.Sorted(old.Racks), at("rack")...)
		gone(inventory.Entries(s, "vlan"), "name", inventory.Sorted(old.VLANs), at("vlan")...)
		gone(inventory.Entries(s, "prefix"), "prefix-id", inventory.Sorted(old.Prefixes), at("prefix")...)
		gone(inventory.Entries(s, "device"), "device-id", inventory.Sorted(old.Devices), at("device")...)
		gone(inventory.Entries(s, "cable"), "cable-id", inventory.Sorted(old.Cables), at("cable")...)
		for _, d := range inventory.Entries(s, "device") {
			if od := old.Devices[str(d, "device-id")]; od != nil {
				gone(inventory.Entries(d, "interface"), "name", inventory.Sorted(od.Interfaces), "site", old.ID, "device", od.ID, "interface")
			}
		}
	}
	var ips []string
	for _, addr := range inventory.Sorted(cur.IPs) {
		if sites[cur.IPs[addr].Site] {
			ips = append(ips, addr)
		}
	}
	gone(inventory.Entries(tree, "ip-address"), "address", ips, "ip-address")
	edits := make([]config.Edit, 0, len(paths))
	for _, p := range paths {
		segs := make([]string, len(p))
		for i, s := range p {
			segs[i] = schema.EscapeSegment(s)
		}
		loc, err := schema.Resolve(set, "", segs)
		if err != nil {
			return nil, err
		}
		edits = append(edits, config.Edit{Op: config.OpRemove, Loc: loc})
	}
	return edits, nil
}

// str reads a key leaf of a decoded entry (keys are strings in this set).
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
