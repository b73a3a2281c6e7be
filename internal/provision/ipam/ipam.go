// Package ipam answers NetBox's "what is free" questions about the
// inventory (the free addresses of a prefix, the free child prefixes of a
// prefix, the free VLAN ids of a site) and allocates from the answer as
// ONE transaction per request (docs/provisioning.md, "IPAM").
//
// Allocation is optimistic: it chooses from a snapshot and commits creates
// that the engine refuses if another writer took the choice first (an
// address exists once, a VID once per site, a new child prefix is
// committed only if the site's prefixes are still as read), then chooses
// again, a bounded number of times. The engine's transactions are the
// lock, so replicas sharing one store never hand out a thing twice.
//
// It imports the engine, the schema and the inventory reader only; the
// REST layer (provisionapi) authorizes and answers.
package ipam

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// MaxItems bounds the objects one request allocates.
const MaxItems = 1024

// Addr is a free address: the address and its prefix's length, as an
// ip-address object has them.
type Addr struct {
	Address      string `json:"address"`
	PrefixLength int    `json:"prefix-length"`
}

// site is what the choosers read of a site: its key and REST path.
type site struct {
	set  *schema.ModelSet
	id   string
	key  string // storage key
	path string // REST path
}

func siteOf(snap *config.Snapshot, set *schema.ModelSet, siteID string) (site, error) {
	s := site{set: set, id: siteID, key: inventory.SiteKey(set, siteID),
		path: schema.RESTBase(set) + "/site/" + schema.EscapeSegment(siteID)}
	if _, ok := snap.Get(s.key); !ok {
		return s, schema.Errorf(schema.KindNotFound, s.path, "site %q does not exist", siteID)
	}
	return s, nil
}

// PrefixPath is the REST path of a site's prefix.
func PrefixPath(set *schema.ModelSet, siteID, prefixID string) string {
	return schema.RESTBase(set) + "/site/" + schema.EscapeSegment(siteID) + "/prefix/" + schema.EscapeSegment(prefixID)
}

// prefix reads a site's prefix.
func (s site) prefix(snap *config.Snapshot, prefixID string) (*inventory.Prefix, netip.Prefix, error) {
	path := PrefixPath(s.set, s.id, prefixID)
	o, ok := snap.Get(s.key + "/prefix/" + schema.EscapeSegment(prefixID))
	if !ok {
		return nil, netip.Prefix{}, schema.Errorf(schema.KindNotFound, path, "prefix %q does not exist at site %q", prefixID, s.id)
	}
	p := inventory.PrefixOf(o.Data)
	np, err := netip.ParsePrefix(p.Prefix)
	if err != nil || !np.Addr().Is4() {
		return nil, netip.Prefix{}, schema.Errorf(schema.KindConflict, path+"/prefix", "%q is no IPv4 prefix", p.Prefix)
	}
	return p, np.Masked(), nil
}

// each calls fn for every entry of one of the site's lists.
func (s site) each(snap *config.Snapshot, list string, fn func(o *config.Object)) {
	eachUnder(snap, s.key+"/"+list+"/", fn)
}

func eachUnder(snap *config.Snapshot, prefix string, fn func(o *config.Object)) {
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		if !strings.Contains(string(k[len(prefix):]), "/") {
			fn(o)
		}
	}
}

// ipKey is the storage key of an ip-address.
func ipKey(set *schema.ModelSet, a netip.Addr) string {
	return schema.RootKey(set, "") + "/ip-address/" + schema.EscapeSegment(a.String())
}

// usedAddrs returns the addresses of p that exist as ip-address objects.
// Keys are in text order, so only the keys that share p's fixed leading
// octets are read.
func usedAddrs(snap *config.Snapshot, set *schema.ModelSet, p netip.Prefix) map[netip.Addr]bool {
	seek := schema.RootKey(set, "") + "/ip-address/"
	octets := strings.Split(p.Addr().String(), ".")
	for i := 0; i < p.Bits()/8; i++ {
		seek += octets[i] + "."
	}
	used := map[netip.Addr]bool{}
	eachUnder(snap, seek, func(o *config.Object) {
		if a, err := netip.ParseAddr(inventory.IPOf(o.Data).Address); err == nil && p.Contains(a) {
			used[a] = true
		}
	})
	return used
}

// FreeIPs lists up to limit free addresses of a site's prefix, lowest
// first.
func FreeIPs(snap *config.Snapshot, set *schema.ModelSet, siteID, prefixID string, limit int) ([]Addr, error) {
	s, err := siteOf(snap, set, siteID)
	if err != nil {
		return nil, err
	}
	_, p, err := s.prefix(snap, prefixID)
	if err != nil {
		return nil, err
	}
	out := []Addr{}
	for _, a := range pickAddrs(p, usedAddrs(snap, set, p), nil, limit) {
		out = append(out, Addr{a.String(), p.Bits()})
	}
	return out, nil
}

// pickAddrs returns the n lowest assignable addresses of p that are neither
// used nor skipped.
func pickAddrs(p netip.Prefix, used map[netip.Addr]bool, skip func(netip.Addr) bool, n int) []netip.Addr {
	first, last, _ := hostRange(p)
	var out []netip.Addr
	for a := first; len(out) < n; a = a.Next() {
		if !used[a] && (skip == nil || !skip(a)) {
			out = append(out, a)
		}
		if a == last {
			break
		}
	}
	return out
}

// Items reads an allocation request's body: one object (answered with one
// object) or a list of them.
func Items(body any) (items []map[string]any, list bool, err error) {
	switch v := body.(type) {
	case map[string]any:
		return []map[string]any{v}, false, nil
	case []any:
		if len(v) == 0 {
			return nil, true, schema.Errorf(schema.KindInvalid, "/", "an empty list allocates nothing: send {} or [{…}, …]")
		}
		if len(v) > MaxItems {
			return nil, true, schema.Errorf(schema.KindInvalid, "/", "%d objects asked for in one request; at most %d", len(v), MaxItems)
		}
		var probs schema.Problems
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				probs.Add("/"+strconv.Itoa(i), "expected a JSON object")
				continue
			}
			items = append(items, m)
		}
		return items, true, probs.Err()
	}
	return nil, false, schema.Errorf(schema.KindInvalid, "/", "expected a JSON object or a list of them")
}

// itemPath is the JSON pointer of an item of the body.
func itemPath(i int, list bool) string {
	if list {
		return "/" + strconv.Itoa(i)
	}
	return ""
}

// decodeEntry validates one item as an entry of list (the allocator's own
// members set in fixed) and returns its canonical value. Members the
// allocator chooses may not be given.
func decodeEntry(list *schema.Node, item map[string]any, fixed map[string]any, base string) (map[string]any, error) {
	var probs schema.Problems
	for k := range fixed {
		if _, given := item[k]; given {
			probs.Add(base+"/"+k, "the allocator chooses %s; leave it out", k)
		}
	}
	for _, k := range list.Keys {
		_, given := item[k]
		if _, chosen := fixed[k]; !given && !chosen {
			probs.Add(base+"/"+k, "required: the new %s's key", list.Name)
		}
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(item)+len(fixed))
	for k, v := range item {
		m[k] = v
	}
	for k, v := range fixed {
		m[k] = v
	}
	v, err := schema.DecodeJSON(list, m, base, true, schema.DecodeOptions{})
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// entryEdit creates one entry of a list.
func entryEdit(set *schema.ModelSet, segs []string, val map[string]any) (config.Edit, string, error) {
	loc, err := schema.Resolve(set, "", segs)
	if err != nil {
		return config.Edit{}, "", err
	}
	return config.Edit{Op: config.OpCreate, Loc: loc, Value: val}, loc.REST(), nil
}
