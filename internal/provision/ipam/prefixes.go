package ipam

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// sitePrefixes reads a site's prefixes and the version of its prefix list
// (the newest change to an entry: what an If-Match on the list compares).
func (s site) prefixes(snap *config.Snapshot) (ids map[string]bool, nets []netip.Prefix, version uint64) {
	ids = map[string]bool{}
	s.each(snap, "prefix", func(o *config.Object) {
		p := inventory.PrefixOf(o.Data)
		ids[p.ID] = true
		if np, err := netip.ParsePrefix(p.Prefix); err == nil {
			nets = append(nets, np)
		}
		version = max(version, o.Modified)
	})
	return ids, nets, version
}

// FreePrefixes lists the largest free blocks inside a site's prefix: the
// space no other prefix of the site overlaps.
func FreePrefixes(snap *config.Snapshot, set *schema.ModelSet, siteID, prefixID string) ([]string, error) {
	s, err := siteOf(snap, set, siteID)
	if err != nil {
		return nil, err
	}
	_, parent, err := s.prefix(snap, prefixID)
	if err != nil {
		return nil, err
	}
	_, nets, _ := s.prefixes(snap)
	out := []string{}
	for _, f := range freeBlocks(parent, nets) {
		out = append(out, f.String())
	}
	return out, nil
}

// AllocatePrefixes creates one prefix of the site per item, each the lowest
// free block of the item's prefix-length inside the parent prefix, as ONE
// transaction. Each item names its prefix-id; the rest (vlan, deployment,
// role, dns-domain, gateway, description) is the item's. The transaction
// holds only if the site's prefixes are still as read, since nothing else
// keeps two new prefixes from overlapping.
func AllocatePrefixes(ctx context.Context, eng *config.Engine, set *schema.ModelSet, siteID, prefixID string, items []map[string]any, list bool, submit Submit) (*Choice, *config.Result, error) {
	prefixList := set.Root.Child("site").Child("prefix")
	choose := func(snap *config.Snapshot, _ func(string) bool) (*Choice, error) {
		s, err := siteOf(snap, set, siteID)
		if err != nil {
			return nil, err
		}
		_, parent, err := s.prefix(snap, prefixID)
		if err != nil {
			return nil, err
		}
		ids, nets, version := s.prefixes(snap)
		c := &Choice{}
		var vals []any
		var asked []string
		var probs schema.Problems
		for i, it := range items {
			base := itemPath(i, list)
			bits, ok := intOf(it["prefix-length"])
			if !ok || bits <= parent.Bits() || bits > 32 {
				probs.Add(base+"/prefix-length", "must be a length from %d to 32 (inside %s)", parent.Bits()+1, parent)
				continue
			}
			asked = append(asked, "/"+strconv.Itoa(bits))
			fit, ok := firstFit(freeBlocks(parent, nets), bits)
			if !ok {
				continue // counted below, with what is left
			}
			id, _ := it["prefix-id"].(string)
			if ids[id] {
				return nil, schema.Errorf(schema.KindConflict, PrefixPath(set, siteID, id), "prefix %q already exists at site %q", id, siteID)
			}
			fields := make(map[string]any, len(it))
			for k, v := range it {
				if k != "prefix-length" {
					fields[k] = v
				}
			}
			val, err := decodeEntry(prefixList, fields, map[string]any{"prefix": fit.String()}, base)
			if err != nil {
				return nil, err
			}
			ids[id] = true
			nets = append(nets, fit)
			vals = append(vals, val)
			c.Paths = append(c.Paths, PrefixPath(set, siteID, id))
			c.Created = append(c.Created, val)
		}
		if err := probs.Err(); err != nil {
			return nil, err
		}
		if len(vals) < len(items) {
			left := []string{}
			_, before, _ := s.prefixes(snap)
			for _, f := range freeBlocks(parent, before) {
				left = append(left, f.String())
			}
			return nil, schema.Errorf(schema.KindConflict, PrefixPath(set, siteID, prefixID)+"/available-prefixes",
				"asked for %s inside %s; free: %s", strings.Join(asked, ", "), parent, orNone(left))
		}
		loc, err := schema.Resolve(set, "", []string{"site", schema.EscapeSegment(siteID), "prefix"})
		if err != nil {
			return nil, err
		}
		c.Edits = []config.Edit{{Op: config.OpCreate, Loc: loc, Value: vals, IfMatch: &version}}
		chosen := nets[len(nets)-len(vals):]
		c.free = func(now *config.Snapshot) bool {
			nowIDs, nowNets, _ := s.prefixes(now)
			for i, v := range vals {
				if nowIDs[v.(map[string]any)["prefix-id"].(string)] {
					return false
				}
				for _, n := range nowNets {
					if n.Overlaps(chosen[i]) {
						return false
					}
				}
			}
			return true
		}
		return c, nil
	}
	return allocate(ctx, eng, "prefixes", choose, submit)
}

// intOf reads an integer from a JSON number (a prefix length, a VID).
func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return int(i), err == nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
