package conventions

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// Check reports every departure of a site from the conventions (path in
// the inventory's REST paths below base, e.g. /inventory/v1.0.0, and the
// reason), by comparing it with the plan the conventions make of its own
// deployments and devices. A site Generate made has none.
func Check(s *inventory.Site, ips map[string]*inventory.IPAddress, base string) []Problem {
	c := &checker{site: base + "/site/" + schema.EscapeSegment(s.ID), base: base}
	m := &site{ID: s.ID, Domain: s.Domain}
	if s.Domain == "" {
		c.add(c.site+"/domain", "no domain: the site's DNS names are <devname>.<deployment>.<site>.<domain>")
	}
	if p, err := netip.ParsePrefix(s.IPBlock); err != nil || !p.Addr().Is4() || p.Bits() != 22 || p.Masked() != p {
		c.add(c.site+"/ip-block", "%q is not a /22 block: the conventions cut the site's /25 prefixes from one", s.IPBlock)
	} else {
		m.Block = p
	}
	deps := make([]*inventory.Deployment, 0, len(s.Deployments))
	for _, id := range inventory.Sorted(s.Deployments) {
		deps = append(deps, s.Deployments[id])
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].Ordinal < deps[j].Ordinal })
	for i, d := range deps {
		if d.Ordinal != i {
			c.add(c.site+"/deployment/"+schema.EscapeSegment(d.ID)+"/ordinal", "ordinal %d: the deployments' ordinals count from 0 without gaps, this one's is %d", d.Ordinal, i)
		}
		m.Deployments = append(m.Deployments, d.ID)
	}
	if len(deps) > maxDeployments {
		c.add(c.site+"/deployment", "%d deployments: a /22 holds %d (a /23 each)", len(deps), maxDeployments)
		m.Deployments = m.Deployments[:maxDeployments]
	}
	for _, id := range inventory.Sorted(s.Devices) {
		d := s.Devices[id]
		dp := c.site + "/device/" + schema.EscapeSegment(id)
		if d.Deployment == "" && d.Role != "other" {
			c.add(dp+"/deployment", "no deployment: a %s's addresses come from its deployment's prefixes", d.Role)
		}
		dev := &device{ID: id, Devname: d.Devname, Deployment: d.Deployment, Role: d.Role, Interfaces: map[string]bool{}}
		for name := range d.Interfaces {
			dev.Interfaces[name] = true
		}
		for _, name := range requiredInterfaces(d.Role) {
			if !dev.Interfaces[name] {
				c.add(dp+"/interface", "no interface %s, which a %s's address goes to", name, d.Role)
			}
		}
		m.Devices = append(m.Devices, dev)
	}
	plan := makePlan(m)
	c.vlans(s, plan)
	if m.Block.IsValid() {
		c.prefixes(s, plan)
		c.addresses(s, ips, plan)
	}
	sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Path < c.probs[j].Path })
	return c.probs
}

type checker struct {
	site, base string
	probs      []Problem
}

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func depText(dep string) string {
	if dep == "" {
		return "site-wide"
	}
	return "deployment " + dep
}

func (c *checker) vlans(s *inventory.Site, plan *Plan) {
	byVID := map[int]*inventory.VLAN{}
	for _, name := range inventory.Sorted(s.VLANs) {
		byVID[s.VLANs[name].VID] = s.VLANs[name]
	}
	want := map[int]bool{}
	var vids []string
	for _, v := range plan.VLANs {
		want[v.VID] = true
		vids = append(vids, strconv.Itoa(v.VID)+" "+v.Name)
		act := byVID[v.VID]
		if act == nil {
			c.add(c.site+"/vlan", "no VLAN %d: the conventions give %s a %s VLAN %s with VID %d", v.VID, depText(v.Deployment), v.Role, v.Name, v.VID)
			continue
		}
		vp := c.site + "/vlan/" + schema.EscapeSegment(act.Name)
		if act.Name != v.Name {
			c.add(vp+"/name", "VLAN %d is named %s: the conventions name it %s", v.VID, act.Name, v.Name)
		}
		if act.Role != v.Role {
			c.add(vp+"/role", "role %s: VLAN %d is the %s VLAN (%s)", act.Role, v.VID, v.Role, depText(v.Deployment))
		}
		if act.Deployment != v.Deployment {
			c.add(vp+"/deployment", "VLAN %d serves %s, not %s", v.VID, depText(v.Deployment), depText(act.Deployment))
		}
	}
	for _, name := range inventory.Sorted(s.VLANs) {
		v := s.VLANs[name]
		if !want[v.VID] {
			c.add(c.site+"/vlan/"+schema.EscapeSegment(name)+"/vid", "VID %d is not one of the conventions' (%s)", v.VID, strings.Join(vids, ", "))
		}
	}
}

func (c *checker) prefixes(s *inventory.Site, plan *Plan) {
	byPrefix := map[string]*inventory.Prefix{}
	for _, id := range inventory.Sorted(s.Prefixes) {
		byPrefix[s.Prefixes[id].Prefix] = s.Prefixes[id]
	}
	want := map[string]bool{}
	for _, p := range plan.Prefixes {
		want[p.Prefix] = true
		act := byPrefix[p.Prefix]
		if act == nil {
			c.add(c.site+"/prefix", "no prefix %s: the conventions give deployment %s its %s /25 %s (VLAN %s, domain %s)", p.Prefix, p.Deployment, strings.ToUpper(p.Kind), p.Prefix, p.VLAN, p.Domain)
			continue
		}
		pp := c.site + "/prefix/" + schema.EscapeSegment(act.ID)
		if act.Role != p.Role {
			c.add(pp+"/role", "role %s: %s is deployment %s's %s prefix", act.Role, p.Prefix, p.Deployment, p.Role)
		}
		if act.VLAN != p.VLAN {
			c.add(pp+"/vlan", "VLAN %q: %s is on VLAN %s", act.VLAN, p.Prefix, p.VLAN)
		}
		if act.Deployment != p.Deployment {
			c.add(pp+"/deployment", "%s is deployment %s's, not %s", p.Prefix, p.Deployment, depText(act.Deployment))
		}
		if act.DNSDomain != p.Domain {
			c.add(pp+"/dns-domain", "%q does not follow the pattern %s.<deployment>.<site>.<domain>: %s", act.DNSDomain, p.Kind, p.Domain)
		}
	}
	for _, id := range inventory.Sorted(s.Prefixes) {
		p := s.Prefixes[id]
		if !want[p.Prefix] {
			c.add(c.site+"/prefix/"+schema.EscapeSegment(id)+"/prefix", "%s is not one of the conventions' /25s of block %s (a /23 per deployment: ADMIN, MGMT, FABRIC 1, FABRIC 2)", p.Prefix, s.IPBlock)
		}
	}
}

func (c *checker) addresses(s *inventory.Site, ips map[string]*inventory.IPAddress, plan *Plan) {
	for _, id := range inventory.Sorted(s.Devices) {
		if why, short := plan.Short[id]; short {
			c.add(c.site+"/device/"+schema.EscapeSegment(id), "%s", why)
		}
	}
	want := map[string]AddrPlan{}
	onIface := map[string]string{}
	primary := map[string]AddrPlan{}
	for _, a := range plan.Addrs {
		want[a.Address.String()] = a
		onIface[a.Device+":"+a.Interface] += " " + a.Address.String()
		if a.Primary {
			primary[a.Device] = a
		}
		ipPath := c.base + "/ip-address/" + a.Address.String()
		act := ips[a.Address.String()]
		switch {
		case act == nil || act.Site != s.ID:
			c.add(ipPath, "missing: the conventions give %s/%d to device %s interface %s", a.Address, a.Length, a.Device, a.Interface)
		case act.Device != a.Device || act.Interface != a.Interface:
			c.add(ipPath, "address out of order: it is on device %s interface %s, the conventions give it to device %s interface %s (management server first in every prefix, then the management switch, fabric switches, compute servers, radios)",
				act.Device, act.Interface, a.Device, a.Interface)
		default:
			if act.PrefixLength != a.Length {
				c.add(ipPath+"/prefix-length", "/%d: the address is in a /25", act.PrefixLength)
			}
			if act.DNSName != a.DNSName {
				c.add(ipPath+"/dns-name", "%q does not follow the pattern: %s", act.DNSName, a.DNSName)
			}
		}
	}
	for _, addr := range inventory.Sorted(ips) {
		ip := ips[addr]
		if ip.Site != s.ID {
			continue
		}
		if _, ok := want[addr]; ok {
			continue
		}
		reason := "not in the conventions' plan"
		if w := onIface[ip.Device+":"+ip.Interface]; w != "" {
			reason += fmt.Sprintf(": device %s interface %s gets%s", ip.Device, ip.Interface, w)
		}
		c.add(c.base+"/ip-address/"+addr, "%s", reason)
	}
	for _, id := range inventory.Sorted(s.Devices) {
		d := s.Devices[id]
		w, ok := primary[id]
		if !ok {
			continue
		}
		dp := c.site + "/device/" + schema.EscapeSegment(id) + "/primary-ip"
		switch d.PrimaryIP {
		case w.Address.String():
		case "":
			c.add(dp, "no primary IP: the conventions make %s (interface %s) primary", w.Address, w.Interface)
		default:
			c.add(dp, "%s: the conventions make %s (interface %s) primary", d.PrimaryIP, w.Address, w.Interface)
		}
	}
}
