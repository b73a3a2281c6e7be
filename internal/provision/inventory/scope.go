package inventory

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// A site's scope is the part of the inventory everything generated for the
// site is made from: the site's subtree, the addresses of its devices that
// lie in its prefixes, the device types (with their manufacturers) its
// devices are, its organization and the clusters standing on it. Reading a
// scope touches only those objects, so one site is read (and its version
// computed) without reading the rest of a large inventory.

// LoadScope reads one site's scope as an Inventory holding that site only
// (Index is the snapshot's); ok is false when the site does not exist.
func LoadScope(snap *config.Snapshot, set *schema.ModelSet, siteID string) (inv *Inventory, ok bool) {
	sc, ok := findScope(snap, set, siteID)
	if !ok {
		return nil, false
	}
	inv = &Inventory{
		Index:         snap.Index,
		Organizations: map[string]*Organization{},
		Manufacturers: map[string]*Manufacturer{},
		DeviceTypes:   map[string]*DeviceType{},
		Sites:         map[string]*Site{},
		IPs:           map[string]*IPAddress{},
		Clusters:      map[string]*Cluster{},
	}
	tree, ver := snap.Tree(sc.site)
	s := SiteOf(tree)
	s.Modified = ver
	inv.Sites[s.ID] = s
	for _, o := range sc.ips {
		ip := IPOf(o.Data)
		inv.IPs[ip.Address] = ip
	}
	for _, o := range sc.deviceTypes {
		tree, _ := snap.Tree(o)
		dt := deviceTypeOf(tree)
		inv.DeviceTypes[dt.ID] = dt
	}
	for _, o := range sc.manufacturers {
		m := &Manufacturer{ID: str(o.Data, "manufacturer-id"), DisplayName: str(o.Data, "display-name")}
		inv.Manufacturers[m.ID] = m
	}
	if sc.org != nil {
		org := orgOf(sc.org.Data)
		inv.Organizations[org.ID] = org
	}
	for _, o := range sc.clusters {
		tree, _ := snap.Tree(o)
		c := ClusterOf(tree)
		inv.Clusters[c.ID] = c
	}
	return inv, true
}

// ScopeVersion identifies the content of one site's scope: it differs
// whenever an object of the scope is created, changed or deleted (it hashes
// every object's key and Modified index, so a deletion, which leaves no
// newer index behind, changes it too). It is cheaper than LoadScope (no
// trees are built) and stable within one process only. ok is false when
// the site does not exist.
func ScopeVersion(snap *config.Snapshot, set *schema.ModelSet, siteID string) (v uint64, ok bool) {
	sc, ok := findScope(snap, set, siteID)
	if !ok {
		return 0, false
	}
	return sc.hash.Sum64(), true
}

var scopeSeed = maphash.MakeSeed()

// scope is what findScope found.
type scope struct {
	site, org                                 *config.Object
	ips, deviceTypes, manufacturers, clusters []*config.Object
	hash                                      maphash.Hash
}

func (sc *scope) add(o *config.Object) {
	sc.hash.WriteString(o.Key)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], o.Modified)
	sc.hash.Write(b[:])
}

// addTree adds o and every object below it (a device type's interface
// templates, a cluster's nodes) to the hash.
func (sc *scope) addTree(snap *config.Snapshot, o *config.Object) {
	sc.add(o)
	scan(snap, o.Key+"/", func(_ string, c *config.Object) { sc.add(c) })
}

func findScope(snap *config.Snapshot, set *schema.ModelSet, siteID string) (*scope, bool) {
	siteKey := SiteKey(set, siteID)
	site, ok := snap.Get(siteKey)
	if !ok {
		return nil, false
	}
	sc := &scope{site: site}
	sc.hash.SetSeed(scopeSeed)
	sc.add(site)
	root := schema.RootKey(set, "")
	var prefixes []netip.Prefix
	types := map[string]bool{}
	scan(snap, siteKey+"/", func(rest string, o *config.Object) {
		sc.add(o)
		list, id, _ := strings.Cut(rest, "/")
		if strings.Contains(id, "/") {
			return // deeper than the site's own lists (an interface)
		}
		switch list {
		case "prefix":
			if p, err := netip.ParsePrefix(str(o.Data, "prefix")); err == nil {
				prefixes = append(prefixes, p.Masked())
			}
		case "device":
			types[str(o.Data, "device-type")] = true
		}
	})
	// The site's devices' addresses are in its prefixes: scan the address
	// keys that can lie in them (by their dotted text), not every address.
	seenIP := map[string]bool{}
	for _, kp := range addressKeyPrefixes(prefixes) {
		scan(snap, root+"/ip-address/"+kp, func(rest string, o *config.Object) {
			if strings.Contains(rest, "/") || seenIP[o.Key] || str(o.Data, "site") != siteID {
				return
			}
			a, err := netip.ParseAddr(str(o.Data, "address"))
			if err != nil || !inAny(prefixes, a) {
				return
			}
			seenIP[o.Key] = true
			sc.ips = append(sc.ips, o)
			sc.add(o)
		})
	}
	mfrs := map[string]bool{}
	for _, id := range Sorted(types) {
		if o, ok := snap.Get(root + "/device-type/" + schema.EscapeSegment(id)); ok {
			sc.deviceTypes = append(sc.deviceTypes, o)
			sc.addTree(snap, o)
			mfrs[str(o.Data, "manufacturer")] = true
		}
	}
	for _, id := range Sorted(mfrs) {
		if o, ok := snap.Get(root + "/manufacturer/" + schema.EscapeSegment(id)); ok {
			sc.manufacturers = append(sc.manufacturers, o)
			sc.add(o)
		}
	}
	if org := str(site.Data, "organization"); org != "" {
		if o, ok := snap.Get(root + "/organization/" + schema.EscapeSegment(org)); ok {
			sc.org = o
			sc.add(o)
		}
	}
	scan(snap, root+"/cluster/", func(rest string, o *config.Object) {
		if !strings.Contains(rest, "/") && str(o.Data, "site") == siteID {
			sc.clusters = append(sc.clusters, o)
			sc.addTree(snap, o)
		}
	})
	return sc, true
}

// scan calls fn for every object whose key starts with prefix, in key
// order, with the rest of its key.
func scan(snap *config.Snapshot, prefix string, fn func(rest string, o *config.Object)) {
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		fn(string(k[len(prefix):]), o)
	}
}

// addressKeyPrefixes returns the text prefixes of the IPv4 addresses in ps:
// the leading octets every address of a prefix shares ("10.0.0." for a /25
// in 10.0.0.0/24), deduplicated and without one that another covers.
func addressKeyPrefixes(ps []netip.Prefix) []string {
	set := map[string]bool{}
	for _, p := range ps {
		if !p.Addr().Is4() {
			continue
		}
		o := p.Addr().As4()
		switch n := p.Bits() / 8; {
		case n >= 3:
			set[fmtOctets(o[:3])] = true
		case n == 0:
			set[""] = true
		default:
			set[fmtOctets(o[:n])] = true
		}
	}
	var out []string
	for _, k := range Sorted(set) {
		if len(out) > 0 && strings.HasPrefix(k, out[len(out)-1]) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func fmtOctets(o []byte) string {
	var b strings.Builder
	for _, x := range o {
		b.WriteString(strconv.Itoa(int(x)))
		b.WriteByte('.')
	}
	return b.String()
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// SiteIDs lists the ids of the sites in snap, in order.
func SiteIDs(snap *config.Snapshot, set *schema.ModelSet) []string {
	var ids []string
	scan(snap, schema.RootKey(set, "")+"/site/", func(rest string, _ *config.Object) {
		if !strings.Contains(rest, "/") {
			if id, err := schema.UnescapeSegment(rest); err == nil {
				ids = append(ids, id)
			}
		}
	})
	return ids
}
