package conventions

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// The roles a device may have (the inventory's device role enumeration),
// in the book's order of the IP plan: the management server takes the
// first address of every prefix, then the management switch, the fabric
// switches, the compute servers and the radios; "other" gets none.
var roleOrder = []string{"management-server", "management-switch", "fabric-switch", "compute-server", "radio", "other"}

func roleRank(role string) int {
	for i, r := range roleOrder {
		if r == role {
			return i
		}
	}
	return -1
}

// The four kinds of edge prefix of a deployment, in the order they are cut
// from its /23.
const (
	pAdmin = "admin"
	pMgmt  = "mgmt"
	pFab1  = "fab1"
	pFab2  = "fab2"
)

var prefixKinds = []string{pAdmin, pMgmt, pFab1, pFab2}

// slot is one address a role's interface takes, from a kind of prefix of
// the device's deployment.
type slot struct {
	iface, prefix string
	primary       bool
}

// roleSlots is the book's address list (section 3.1.1) for every role but
// the management server's, which plan builds per deployment.
var roleSlots = map[string][]slot{
	"management-switch": {{"gbe1", pAdmin, true}},
	"fabric-switch":     {{"eth0", pMgmt, true}, {"bmc", pMgmt, false}},
	"compute-server":    {{"eth0", pMgmt, true}, {"bmc", pAdmin, false}, {"qsfp0", pFab1, false}, {"qsfp1", pFab2, false}},
	"radio":             {{"eth0", pFab1, true}},
}

// The management server's physical interfaces: eno1 is the site's uplink,
// eno2 faces the management switch and carries every deployment's VLANs
// (its virtual interfaces ride on it).
const (
	msUplink = "eno1"
	msTrunk  = "eno2"
	msBMC    = "bmc"
)

// requiredInterfaces are the physical interfaces a device of role must
// have for its addresses.
func requiredInterfaces(role string) []string {
	if role == "management-server" {
		return []string{msTrunk, msBMC}
	}
	var out []string
	for _, s := range roleSlots[role] {
		out = append(out, s.iface)
	}
	return out
}

// maxDeployments: a deployment takes a /23 of the site's /22.
const maxDeployments = 2

// site is what the plan needs to know of a site, whether it comes from a
// spec or from the inventory.
type site struct {
	ID, Domain  string
	Block       netip.Prefix
	Deployments []string // by ordinal
	Devices     []*device
}

type device struct {
	ID, Devname, Deployment, Role string
	Interfaces                    map[string]bool
}

// VLANPlan is a VLAN the conventions give a site.
type VLANPlan struct {
	Name, Deployment, Role string
	VID                    int
}

// PrefixPlan is an edge prefix the conventions give a deployment.
type PrefixPlan struct {
	ID, Prefix, VLAN, Deployment, Role, Kind, Domain string
}

// AddrPlan is an address the conventions give a device's interface.
type AddrPlan struct {
	Address             netip.Addr
	Length              int
	Device, Interface   string
	VLAN, Prefix        string // the interface's VLAN and the prefix's id
	DNSName             string
	Primary             bool
	Virtual, VirtualFor string // a virtual interface and the physical one it rides on
}

// Plan is everything the conventions derive for a site.
type Plan struct {
	VLANs    []VLANPlan
	Prefixes []PrefixPlan
	Addrs    []AddrPlan
	// Short lists the devices whose addresses did not fit (by id): the
	// prefix that ran out.
	Short map[string]string
}

// vlanName is the name of a deployment's MGMT or FABRIC VLAN: the first
// deployment's are MGMT and FABRIC, a later one's carry its name (the
// book's DEVMGMT, DEVFABRIC), e.g. DEV1MGMT.
func vlanName(dep string, ordinal int, role string) string {
	if ordinal == 0 {
		return role
	}
	return strings.ToUpper(dep) + role
}

// vid is a deployment's MGMT (kind 0) or FABRIC (kind 1) VLAN id: 800 and
// 801, +10 per later deployment.
func vid(ordinal, kind int) int { return 800 + 10*ordinal + kind }

// virtualName names the management server's VLAN interface for a
// deployment, e.g. mgmt800 or fab811.
func virtualName(ordinal int, fabric bool) string {
	if fabric {
		return "fab" + strconv.Itoa(vid(ordinal, 1))
	}
	return "mgmt" + strconv.Itoa(vid(ordinal, 0))
}

// PrefixID is a deployment's prefix of a kind, e.g. prod1-mgmt.
func PrefixID(dep, kind string) string { return dep + "-" + kind }

// FQDN is a device's name: <devname>.<deployment>.<site>.<domain>.
func FQDN(devname, dep, site, domain string) string {
	return devname + "." + dep + "." + site + "." + domain
}

// cut returns the kind-th /25 of deployment ordinal's /23 of block.
func cut(block netip.Prefix, ordinal, kind int) netip.Prefix {
	a := block.Addr().As4()
	off := ordinal*512 + kind*128
	a[2] += byte(off / 256)
	a[3] += byte(off % 256)
	return netip.PrefixFrom(netip.AddrFrom4(a), 25)
}

// makePlan lays out the site's VLANs, prefixes and addresses.
func makePlan(s *site) *Plan {
	p := &Plan{Short: map[string]string{}}
	p.VLANs = append(p.VLANs, VLANPlan{Name: "ADMIN", VID: 1, Role: "admin"}, VLANPlan{Name: "UPLINK", VID: 10, Role: "uplink"})
	next := map[string]int{}          // prefix id → last host number given
	byKind := map[string]PrefixPlan{} // deployment/kind → prefix
	for ord, dep := range s.Deployments {
		mg, fb := vlanName(dep, ord, "MGMT"), vlanName(dep, ord, "FABRIC")
		p.VLANs = append(p.VLANs, VLANPlan{Name: mg, VID: vid(ord, 0), Deployment: dep, Role: "mgmt"},
			VLANPlan{Name: fb, VID: vid(ord, 1), Deployment: dep, Role: "fabric"})
		for k, kind := range prefixKinds {
			pp := PrefixPlan{ID: PrefixID(dep, kind), Prefix: cut(s.Block, ord, k).String(), Deployment: dep,
				Domain: kind + "." + dep + "." + s.ID + "." + s.Domain}
			switch kind {
			case pAdmin:
				pp.VLAN, pp.Role = "ADMIN", "admin"
			case pMgmt:
				pp.VLAN, pp.Role = mg, "mgmt"
			default:
				pp.VLAN, pp.Role = fb, "fabric"
			}
			pp.Kind = kind
			p.Prefixes = append(p.Prefixes, pp)
			byKind[dep+"/"+kind] = pp
		}
	}
	devs := append([]*device(nil), s.Devices...)
	sort.SliceStable(devs, func(i, j int) bool {
		ri, rj := roleRank(devs[i].Role), roleRank(devs[j].Role)
		if ri != rj {
			return ri < rj
		}
		return inventory.NaturalLess(devs[i].Devname, devs[j].Devname)
	})
	give := func(d *device, dep, kind, iface string, primary bool, virtualFor string) {
		pp := byKind[dep+"/"+kind]
		n := next[pp.ID] + 1
		if n > 126 {
			if _, dup := p.Short[d.ID]; !dup {
				p.Short[d.ID] = fmt.Sprintf("prefix %s (%s) has no free address left for %s (126 hosts in a /25)", pp.ID, pp.Prefix, iface)
			}
			return
		}
		next[pp.ID] = n
		a := netip.MustParsePrefix(pp.Prefix).Addr().As4()
		a[3] += byte(n)
		name := d.Devname + "." + pp.Domain
		if primary {
			name = FQDN(d.Devname, d.Deployment, s.ID, s.Domain)
		}
		ap := AddrPlan{Address: netip.AddrFrom4(a), Length: 25, Device: d.ID, Interface: iface, VLAN: pp.VLAN,
			Prefix: pp.ID, DNSName: name, Primary: primary}
		if virtualFor != "" {
			ap.Virtual, ap.VirtualFor = iface, virtualFor
		}
		p.Addrs = append(p.Addrs, ap)
	}
	for ord, dep := range s.Deployments {
		for _, d := range devs {
			if d.Role == "management-server" {
				// First in every prefix of every deployment it serves.
				own := d.Deployment == dep
				give(d, dep, pAdmin, msTrunk, own, "")
				if own {
					give(d, dep, pAdmin, msBMC, false, "")
				}
				give(d, dep, pMgmt, virtualName(ord, false), false, msTrunk)
				give(d, dep, pFab1, virtualName(ord, true), false, msTrunk)
				give(d, dep, pFab2, virtualName(ord, true), false, msTrunk)
				continue
			}
			if d.Deployment != dep {
				continue
			}
			for _, sl := range roleSlots[d.Role] {
				if d.Interfaces[sl.iface] {
					give(d, dep, sl.prefix, sl.iface, sl.primary, "")
				}
			}
		}
	}
	return p
}
