package ipam

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// The VLAN ids a site may use (IEEE 802.1Q: 0 and 4095 are reserved).
const (
	minVID = 1
	maxVID = 4094
)

// VLAN is a free VLAN id.
type VLAN struct {
	VID int `json:"vid"`
}

// vlans reads a site's VLANs: the names and the VIDs in use.
func (s site) vlans(snap *config.Snapshot) (names map[string]bool, vids map[int]string) {
	names, vids = map[string]bool{}, map[int]string{}
	s.each(snap, "vlan", func(o *config.Object) {
		v := inventory.VLANOf(o.Data)
		names[v.Name] = true
		vids[v.VID] = v.Name
	})
	return names, vids
}

// vidClaim is the claim key of a VID at a site.
func vidClaim(s site, vid int) string { return s.key + "/vid/" + strconv.Itoa(vid) }

// FreeVLANs lists up to limit free VLAN ids of a site, lowest first.
func FreeVLANs(snap *config.Snapshot, set *schema.ModelSet, siteID string, limit int) ([]VLAN, error) {
	s, err := siteOf(snap, set, siteID)
	if err != nil {
		return nil, err
	}
	_, vids := s.vlans(snap)
	out := []VLAN{}
	for vid := minVID; vid <= maxVID && len(out) < limit; vid++ {
		if _, used := vids[vid]; !used {
			out = append(out, VLAN{vid})
		}
	}
	return out, nil
}

// AllocateVLANs creates one VLAN of the site per item, as ONE transaction:
// each item names the VLAN and may ask for a VID; the others get the
// lowest free ones. The rest (deployment, role) is the item's.
func AllocateVLANs(ctx context.Context, eng *config.Engine, set *schema.ModelSet, siteID string, items []map[string]any, list bool, submit Submit) (*Choice, *config.Result, error) {
	vlanList := set.Root.Child("site").Child("vlan")
	choose := func(snap *config.Snapshot, claimed func(string) bool) (*Choice, error) {
		s, err := siteOf(snap, set, siteID)
		if err != nil {
			return nil, err
		}
		names, vids := s.vlans(snap)
		free := maxVID - minVID + 1 - len(vids)
		taken := func(vid int, hints bool) bool {
			_, used := vids[vid]
			return used || hints && claimed(vidClaim(s, vid))
		}
		// Asked-for VIDs first, so the lowest free ones go to the rest.
		chosen := make([]int, len(items))
		for i, it := range items {
			if _, given := it["vid"]; !given {
				continue
			}
			vid, ok := intOf(it["vid"])
			if !ok || vid < minVID || vid > maxVID {
				return nil, schema.Errorf(schema.KindInvalid, itemPath(i, list)+"/vid", "must be a VLAN id from %d to %d", minVID, maxVID)
			}
			if name, used := vids[vid]; used {
				return nil, schema.Errorf(schema.KindConflict, itemPath(i, list)+"/vid", "VLAN id %d is VLAN %q's at site %q", vid, name, siteID)
			}
			vids[vid], chosen[i] = "", vid
		}
		next := func(hints bool) int {
			for vid := minVID; vid <= maxVID; vid++ {
				if !taken(vid, hints) {
					return vid
				}
			}
			return 0
		}
		for i := range items {
			if chosen[i] != 0 {
				continue
			}
			vid := next(true)
			if vid == 0 {
				vid = next(false) // what others commit may yet fail
			}
			if vid == 0 {
				return nil, schema.Errorf(schema.KindConflict, s.path+"/available-vlans",
					"asked for %d VLAN ids; %d are free", len(items), free)
			}
			vids[vid], chosen[i] = "", vid
		}
		c := &Choice{free: func(now *config.Snapshot) bool {
			nowNames, nowVIDs := s.vlans(now)
			for i, it := range items {
				if name, _ := it["name"].(string); nowNames[name] {
					return false
				}
				if _, used := nowVIDs[chosen[i]]; used {
					return false
				}
			}
			return true
		}}
		for i, it := range items {
			name, _ := it["name"].(string)
			if names[name] {
				return nil, schema.Errorf(schema.KindConflict, s.path+"/vlan/"+schema.EscapeSegment(name), "VLAN %q already exists at site %q", name, siteID)
			}
			names[name] = true
			fields := make(map[string]any, len(it))
			for k, v := range it {
				if k != "vid" {
					fields[k] = v
				}
			}
			val, err := decodeEntry(vlanList, fields, map[string]any{"vid": json.Number(strconv.Itoa(chosen[i]))}, itemPath(i, list))
			if err != nil {
				return nil, err
			}
			ed, path, err := entryEdit(set, []string{"site", schema.EscapeSegment(siteID), "vlan", schema.EscapeSegment(name)}, val)
			if err != nil {
				return nil, err
			}
			c.Edits, c.Paths, c.Created = append(c.Edits, ed), append(c.Paths, path), append(c.Created, val)
			c.claims = append(c.claims, vidClaim(s, chosen[i]))
		}
		return c, nil
	}
	return allocate(ctx, eng, "VLAN ids", choose, submit)
}
