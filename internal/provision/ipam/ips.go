package ipam

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// AllocateIPs creates one ip-address object per item in the lowest free
// addresses of a site's prefix, as ONE transaction: the address, the
// prefix's length and the site are chosen, the rest (dns-name, device,
// interface, status, description) is the item's. Too few free addresses
// is a conflict naming how many were asked and how many are free.
func AllocateIPs(ctx context.Context, eng *config.Engine, set *schema.ModelSet, siteID, prefixID string, items []map[string]any, list bool, submit Submit) (*Choice, *config.Result, error) {
	ipList := set.Root.Child("ip-address")
	choose := func(snap *config.Snapshot, claimed func(string) bool) (*Choice, error) {
		s, err := siteOf(snap, set, siteID)
		if err != nil {
			return nil, err
		}
		_, p, err := s.prefix(snap, prefixID)
		if err != nil {
			return nil, err
		}
		used := usedAddrs(snap, set, p)
		picked := pickAddrs(p, used, func(a netip.Addr) bool { return claimed(ipKey(set, a)) }, len(items))
		if len(picked) < len(items) {
			// What others are committing may yet fail: the engine decides.
			picked = pickAddrs(p, used, nil, len(items))
		}
		if len(picked) < len(items) {
			return nil, schema.Errorf(schema.KindConflict, PrefixPath(set, siteID, prefixID)+"/available-ips",
				"asked for %d addresses of %s; %d are free", len(items), p, len(picked))
		}
		c := &Choice{free: func(now *config.Snapshot) bool {
			for _, a := range picked {
				if _, exists := now.Get(ipKey(set, a)); exists {
					return false
				}
			}
			return true
		}}
		for i, it := range items {
			a := picked[i]
			val, err := decodeEntry(ipList, it, map[string]any{
				"address": a.String(), "prefix-length": json.Number(strconv.Itoa(p.Bits())), "site": siteID,
			}, itemPath(i, list))
			if err != nil {
				return nil, err
			}
			ed, path, err := entryEdit(set, []string{"ip-address", schema.EscapeSegment(a.String())}, val)
			if err != nil {
				return nil, err
			}
			c.Edits, c.Paths, c.Created = append(c.Edits, ed), append(c.Paths, path), append(c.Created, val)
			c.claims = append(c.claims, ipKey(set, a))
		}
		return c, nil
	}
	return allocate(ctx, eng, "addresses", choose, submit)
}
