package conventions

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// Generated is a site as the conventions make it: the inventory entries to
// merge, as JSON trees of the inventory set (numbers as json.Number), and
// the plan they came from.
type Generated struct {
	Organization  map[string]any
	Manufacturers []map[string]any
	DeviceTypes   []map[string]any
	Site          map[string]any
	IPs           []map[string]any
	Plan          *Plan
}

var (
	invIDRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	slugRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)
	colorRe    = regexp.MustCompile(`^[0-9a-f]{6}$`)
)

var deploymentKinds = []string{"production", "staging", "development"}
var lengthUnits = []string{"km", "m", "cm", "mi", "ft", "in"}

// typeInfo is a device type as the generator needs it.
type typeInfo struct {
	uHeight   int
	fullDepth bool
	ifaces    []Interface
	has       map[string]bool
}

// Generate validates spec against the conventions and the inventory
// (known device types, addresses in use) and makes the site. Every
// problem is reported with the spec's path; nothing is made when there is
// one.
func Generate(spec *Spec, inv *inventory.Inventory) (*Generated, []Problem) {
	g := &generator{spec: spec, inv: inv, types: map[string]*typeInfo{}, devIDs: map[string]int{}}
	g.checkSite()
	g.collectTypes()
	s := g.checkDevices()
	g.checkCables()
	if len(g.probs) > 0 {
		return nil, g.probs
	}
	plan := makePlan(s)
	for i := range spec.Devices {
		if why, short := plan.Short[g.deviceID(i)]; short {
			g.add(fmt.Sprintf("/devices/%d", i), "%s", why)
		}
	}
	g.checkMACsInUse()
	for _, a := range plan.Addrs {
		if ip, ok := inv.IPs[a.Address.String()]; ok && ip.Site != spec.Site {
			owner := "allocated without a site"
			if ip.Site != "" {
				owner = fmt.Sprintf("on site %s device %s interface %s", ip.Site, ip.Device, ip.Interface)
			}
			g.add(fmt.Sprintf("/devices/%d", g.devIDs[a.Device]), "address %s, the plan's for interface %s, is taken (%s)", a.Address, a.Interface, owner)
		}
	}
	if len(g.probs) > 0 {
		return nil, g.probs
	}
	return g.build(plan), nil
}

type generator struct {
	spec   *Spec
	inv    *inventory.Inventory
	types  map[string]*typeInfo
	devIDs map[string]int // device id → index in spec.Devices
	block  netip.Prefix
	probs  []Problem
}

func (g *generator) add(path, format string, args ...any) {
	g.probs = append(g.probs, Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func (g *generator) checkSite() {
	s := g.spec
	if !dnsLabelRe.MatchString(s.Site) || len(s.Site) > 63 {
		g.add("/site", "%q is not a site id: a DNS label (lower-case letters, digits, '-'), it is the <site> of every DNS name", s.Site)
	}
	if !invIDRe.MatchString(s.Organization.ID) || len(s.Organization.ID) > 63 {
		g.add("/organization/id", "%q is not an organization id (lower-case letters, digits, '.', '_', '-')", s.Organization.ID)
	}
	if s.Organization.Tenant != "" && len(s.Organization.Tenant) > 32 {
		g.add("/organization/tenant", "longer than 32 characters")
	}
	labels := strings.Split(s.Domain, ".")
	for _, l := range labels {
		if !dnsLabelRe.MatchString(l) {
			g.add("/domain", "%q is not a DNS domain of lower-case labels, e.g. aetherproject.net", s.Domain)
			break
		}
	}
	g.block = checkBlock(s.Block, "/block", g)
	if len(s.Deployments) == 0 {
		g.add("/deployments", "a site needs at least one deployment, e.g. {name: prod1, kind: production}")
	}
	if len(s.Deployments) > maxDeployments {
		g.add("/deployments", "%d deployments: the site's /22 holds %d (each takes a /23: its ADMIN, MGMT and two FABRIC /25s)", len(s.Deployments), maxDeployments)
	}
	seen := map[string]bool{}
	for i, d := range s.Deployments {
		p := fmt.Sprintf("/deployments/%d", i)
		if !dnsLabelRe.MatchString(d.Name) || len(d.Name) > 63 {
			g.add(p+"/name", "%q is not a deployment name: a DNS label, e.g. prod1", d.Name)
		}
		if seen[d.Name] {
			g.add(p+"/name", "deployment %q is named twice", d.Name)
		}
		seen[d.Name] = true
		if !oneOf(d.Kind, deploymentKinds) {
			g.add(p+"/kind", "%q is not a deployment kind (%s)", d.Kind, strings.Join(deploymentKinds, ", "))
		}
	}
	racks := map[string]bool{}
	for i, r := range s.Racks {
		p := fmt.Sprintf("/racks/%d", i)
		if !invIDRe.MatchString(r.ID) || len(r.ID) > 63 {
			g.add(p+"/id", "%q is not a rack id", r.ID)
		}
		if racks[r.ID] {
			g.add(p+"/id", "rack %q is defined twice", r.ID)
		}
		racks[r.ID] = true
		if r.UHeight < 0 || r.UHeight > 60 {
			g.add(p+"/u-height", "%d is not a rack height (1 to 60 units)", r.UHeight)
		}
	}
}

// checkBlock parses the site's block: an IPv4 /22 given by its network
// address.
func checkBlock(s, path string, g *generator) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		g.add(path, "%q is not an IPv4 prefix such as 10.0.0.0/22", s)
	case !p.Addr().Is4():
		g.add(path, "%s is not IPv4: the conventions cut IPv4 /25s", s)
	case p.Bits() != 22:
		g.add(path, "%s is a /%d, not a /22: the conventions cut a /22 into /25 prefixes, a /23 per deployment", s, p.Bits())
	case p.Masked() != p:
		g.add(path, "%s is not a /22's network address (did you mean %s?)", s, p.Masked())
	default:
		return p
	}
	return netip.Prefix{}
}

func (g *generator) collectTypes() {
	for id, dt := range g.inv.DeviceTypes {
		ti := &typeInfo{uHeight: dt.UHeight, fullDepth: dt.FullDepth, has: map[string]bool{}}
		for _, it := range dt.Interfaces {
			ti.ifaces = append(ti.ifaces, Interface{Name: it.Name, Type: it.Type, MgmtOnly: it.MgmtOnly})
			ti.has[it.Name] = true
		}
		g.types[id] = ti
	}
	defined := map[string]bool{}
	for i, dt := range g.spec.DeviceTypes {
		p := fmt.Sprintf("/device-types/%d", i)
		if !invIDRe.MatchString(dt.ID) || len(dt.ID) > 63 {
			g.add(p+"/id", "%q is not a device type id", dt.ID)
		}
		if defined[dt.ID] {
			g.add(p+"/id", "device type %q is defined twice", dt.ID)
		}
		defined[dt.ID] = true
		if !invIDRe.MatchString(dt.Manufacturer) || len(dt.Manufacturer) > 63 {
			g.add(p+"/manufacturer", "%q is not a manufacturer id", dt.Manufacturer)
		}
		if dt.Model == "" || len(dt.Model) > 100 {
			g.add(p+"/model", "a model name of 1 to 100 characters is needed")
		}
		ti := &typeInfo{uHeight: 1, fullDepth: true, has: map[string]bool{}}
		if dt.UHeight != nil {
			ti.uHeight = *dt.UHeight
			if ti.uHeight < 0 || ti.uHeight > 60 {
				g.add(p+"/u-height", "%d is not a height (0 to 60 units)", ti.uHeight)
			}
		}
		if dt.FullDepth != nil {
			ti.fullDepth = *dt.FullDepth
		}
		for j, it := range dt.Interfaces {
			ip := fmt.Sprintf("%s/interfaces/%d", p, j)
			if it.Name == "" || len(it.Name) > 64 {
				g.add(ip+"/name", "an interface name of 1 to 64 characters is needed")
			}
			if ti.has[it.Name] {
				g.add(ip+"/name", "interface %q is listed twice", it.Name)
			}
			if !slugRe.MatchString(it.Type) {
				g.add(ip+"/type", "%q is not an interface type such as 1000base-t", it.Type)
			}
			ti.has[it.Name] = true
			ti.ifaces = append(ti.ifaces, it)
		}
		g.types[dt.ID] = ti
	}
}

func (g *generator) deviceID(i int) string {
	d := g.spec.Devices[i]
	return d.Devname + "." + g.deploymentOf(d)
}

func (g *generator) deploymentOf(d Device) string {
	if d.Deployment == "" && len(g.spec.Deployments) > 0 {
		return g.spec.Deployments[0].Name
	}
	return d.Deployment
}

// checkDevices checks every device and returns the site the plan works
// on.
func (g *generator) checkDevices() *site {
	s := &site{ID: g.spec.Site, Domain: g.spec.Domain, Block: g.block}
	deps := map[string]bool{}
	for _, d := range g.spec.Deployments {
		s.Deployments = append(s.Deployments, d.Name)
		deps[d.Name] = true
	}
	rackHeight := map[string]int{}
	for _, r := range g.spec.Racks {
		rackHeight[r.ID] = r.UHeight
		if r.UHeight == 0 {
			rackHeight[r.ID] = 42
		}
	}
	type unit struct {
		rack, face string
		u          int
	}
	occupied := map[unit]int{}
	macs := map[string]string{}
	servers := -1
	for i, d := range g.spec.Devices {
		p := fmt.Sprintf("/devices/%d", i)
		dep := g.deploymentOf(d)
		if !dnsLabelRe.MatchString(d.Devname) || len(d.Devname) > 63 {
			g.add(p+"/devname", "%q is not a devname: a DNS label, the first of the device's names", d.Devname)
		}
		if d.Deployment != "" && !deps[d.Deployment] {
			g.add(p+"/deployment", "no deployment %q in /deployments", d.Deployment)
		}
		id := d.Devname + "." + dep
		if j, dup := g.devIDs[id]; dup {
			g.add(p+"/devname", "devname %q is also /devices/%d's in deployment %s", d.Devname, j, dep)
		}
		g.devIDs[id] = i
		if roleRank(d.Role) < 0 {
			g.add(p+"/role", "unknown role %q (one of %s)", d.Role, strings.Join(roleOrder, ", "))
		}
		if d.Role == "management-server" {
			if servers >= 0 {
				g.add(p+"/role", "a second management server (the first is /devices/%d): the conventions give the site's one management server the first address of every prefix", servers)
			}
			servers = i
		}
		ti := g.types[d.Type]
		if ti == nil {
			g.add(p+"/type", "no device type %q in /device-types or the inventory", d.Type)
		} else {
			for _, name := range requiredInterfaces(d.Role) {
				if !ti.has[name] {
					g.add(p+"/type", "device type %s has no interface %s, which a %s's address goes to", d.Type, name, d.Role)
				}
			}
		}
		if d.Serial != "" && len(d.Serial) > 64 {
			g.add(p+"/serial", "longer than 64 characters")
		}
		face := d.Face
		if face == "" {
			face = "front"
		}
		if face != "front" && face != "rear" {
			g.add(p+"/face", "%q is not a rack face (front or rear)", d.Face)
		}
		switch {
		case d.Rack == "" && d.Position != 0:
			g.add(p+"/position", "a position needs a rack")
		case d.Rack != "" && rackHeight[d.Rack] == 0:
			g.add(p+"/rack", "no rack %q in /racks", d.Rack)
		case d.Position != 0 && ti != nil:
			h := ti.uHeight
			top := d.Position + h - 1
			if h == 0 {
				g.add(p+"/position", "device type %s is 0U: it takes no rack position", d.Type)
				break
			}
			if d.Position < 1 || top > rackHeight[d.Rack] {
				g.add(p+"/position", "units %d to %d do not fit rack %s (units 1 to %d)", d.Position, top, d.Rack, rackHeight[d.Rack])
				break
			}
			faces := []string{face}
			if ti.fullDepth {
				faces = []string{"front", "rear"}
			}
		clash:
			for u := d.Position; u <= top; u++ {
				for _, f := range faces {
					if j, taken := occupied[unit{d.Rack, f, u}]; taken {
						g.add(p+"/position", "unit %d of rack %s (%s) is taken by /devices/%d (%s)", u, d.Rack, f, j, g.spec.Devices[j].Devname)
						break clash
					}
				}
			}
			for u := d.Position; u <= top; u++ {
				for _, f := range faces {
					occupied[unit{d.Rack, f, u}] = i
				}
			}
		}
		names := make([]string, 0, len(d.MACs))
		for name := range d.MACs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			mp := p + "/macs/" + name
			if ti != nil && !ti.has[name] {
				g.add(mp, "device type %s has no interface %q", d.Type, name)
			}
			hw, err := net.ParseMAC(d.MACs[name])
			if err != nil || len(hw) != 6 {
				g.add(mp, "%q is not a MAC address such as 3c:ec:ef:00:00:01", d.MACs[name])
				continue
			}
			mac := hw.String()
			if other, dup := macs[mac]; dup {
				g.add(mp, "MAC %s is also %s's: a MAC address is one interface's", mac, other)
				continue
			}
			macs[mac] = mp
		}
		dev := &device{ID: id, Devname: d.Devname, Deployment: dep, Role: d.Role, Interfaces: map[string]bool{}}
		if ti != nil {
			dev.Interfaces = ti.has
		}
		s.Devices = append(s.Devices, dev)
	}
	return s
}

// checkMACsInUse refuses a MAC the inventory has on another interface
// (of any site): a MAC address is one interface's.
func (g *generator) checkMACsInUse() {
	holder := map[string]string{}
	for _, sid := range inventory.Sorted(g.inv.Sites) {
		site := g.inv.Sites[sid]
		for _, did := range inventory.Sorted(site.Devices) {
			for _, name := range inventory.Sorted(site.Devices[did].Interfaces) {
				if mac := site.Devices[did].Interfaces[name].MAC; mac != "" {
					holder[mac] = sid + " " + did + " " + name
				}
			}
		}
	}
	for i, d := range g.spec.Devices {
		for _, name := range inventory.Sorted(d.MACs) {
			hw, _ := net.ParseMAC(d.MACs[name])
			at, taken := holder[hw.String()]
			if taken && at != g.spec.Site+" "+g.deviceID(i)+" "+name {
				g.add(fmt.Sprintf("/devices/%d/macs/%s", i, name), "MAC %s is already the inventory's on site/device/interface %s", hw, strings.ReplaceAll(at, " ", "/"))
			}
		}
	}
}

// end resolves a cable end "<devname>[.<deployment>]:<interface>".
func (g *generator) end(v, path string) (dev, iface string, ok bool) {
	name, iface, found := strings.Cut(v, ":")
	if !found || name == "" || iface == "" {
		g.add(path, "%q is not a cable end: <devname>[.<deployment>]:<interface>, e.g. node1:bmc", v)
		return "", "", false
	}
	idx := -1
	if _, _, withDep := strings.Cut(name, "."); withDep {
		j, ok := g.devIDs[name]
		if ok {
			idx = j
		}
	} else {
		for i, d := range g.spec.Devices {
			if d.Devname != name {
				continue
			}
			if idx >= 0 {
				g.add(path, "devname %s is in two deployments: write %s.<deployment>", name, name)
				return "", "", false
			}
			idx = i
		}
	}
	if idx < 0 {
		g.add(path, "no device %q in /devices", name)
		return "", "", false
	}
	ti := g.types[g.spec.Devices[idx].Type]
	if ti != nil && !ti.has[iface] {
		g.add(path, "device %s (type %s) has no interface %q", name, g.spec.Devices[idx].Type, iface)
		return "", "", false
	}
	return g.deviceID(idx), iface, true
}

func (g *generator) checkCables() {
	cabled := map[string]string{}
	ids := map[string]string{}
	for i, c := range g.spec.Cables {
		p := fmt.Sprintf("/cables/%d", i)
		for _, side := range []struct{ name, v string }{{"a", c.A}, {"b", c.B}} {
			dev, iface, ok := g.end(side.v, p+"/"+side.name)
			if !ok {
				continue
			}
			k := dev + ":" + iface
			if other, dup := cabled[k]; dup {
				g.add(p+"/"+side.name, "interface %s is already on %s: an interface takes one cable", side.v, other)
			}
			cabled[k] = p
		}
		id := g.cableID(c)
		if !invIDRe.MatchString(id) || len(id) > 63 {
			g.add(p+"/id", "%q is not a cable id", id)
		} else if other, dup := ids[id]; dup {
			g.add(p+"/id", "cable id %s is also %s's", id, other)
		}
		ids[id] = p
		if c.Type != "" && !slugRe.MatchString(c.Type) {
			g.add(p+"/type", "%q is not a cable type such as cat6", c.Type)
		}
		if c.Length < 0 {
			g.add(p+"/length", "a length is not negative")
		}
		if c.Length != 0 && !oneOf(c.LengthUnit, lengthUnits) {
			g.add(p+"/length-unit", "%q is not a length unit (%s)", c.LengthUnit, strings.Join(lengthUnits, ", "))
		}
		if c.Color != "" && !colorRe.MatchString(c.Color) {
			g.add(p+"/color", "%q is not a colour as six lower-case hex digits, e.g. 2196f3", c.Color)
		}
	}
}

// cableID is the cable's id: its own, or side A's device and interface
// (an interface takes one cable, so side A names it).
func (g *generator) cableID(c Cable) string {
	if c.ID != "" {
		return c.ID
	}
	name, iface, _ := strings.Cut(c.A, ":")
	if !strings.Contains(name, ".") {
		for i, d := range g.spec.Devices {
			if d.Devname == name {
				name = g.deviceID(i)
				break
			}
		}
	}
	id := []byte(strings.ToLower(name + "_" + iface))
	for i, b := range id {
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			id[i] = '-'
		}
	}
	return string(id)
}

func num(i int) json.Number { return json.Number(strconv.Itoa(i)) }

// build turns the checked spec and its plan into inventory entries.
func (g *generator) build(plan *Plan) *Generated {
	s := g.spec
	out := &Generated{Plan: plan}
	out.Organization = map[string]any{"org-id": s.Organization.ID}
	setIf(out.Organization, "display-name", s.Organization.DisplayName)
	setIf(out.Organization, "tenant", s.Organization.Tenant)

	mfrs := map[string]bool{}
	for _, dt := range s.DeviceTypes {
		if !mfrs[dt.Manufacturer] {
			mfrs[dt.Manufacturer] = true
			out.Manufacturers = append(out.Manufacturers, map[string]any{"manufacturer-id": dt.Manufacturer})
		}
		ti := g.types[dt.ID]
		var tmpl []any
		for _, it := range dt.Interfaces {
			tmpl = append(tmpl, map[string]any{"name": it.Name, "type": it.Type, "mgmt-only": it.MgmtOnly})
		}
		out.DeviceTypes = append(out.DeviceTypes, map[string]any{
			"device-type-id": dt.ID, "manufacturer": dt.Manufacturer, "model": dt.Model,
			"u-height": num(ti.uHeight), "full-depth": ti.fullDepth, "interface-template": tmpl,
		})
	}

	site := map[string]any{"site-id": s.Site, "organization": s.Organization.ID, "domain": s.Domain, "ip-block": s.Block}
	setIf(site, "display-name", s.DisplayName)
	setIf(site, "location", s.Location)
	setIf(site, "address", s.Address)
	setIf(site, "tenant", s.Organization.Tenant)
	var racks, deps, vlans, prefixes, devices, cables []any
	for _, r := range s.Racks {
		h := r.UHeight
		if h == 0 {
			h = 42
		}
		e := map[string]any{"rack-id": r.ID, "u-height": num(h)}
		setIf(e, "display-name", r.DisplayName)
		racks = append(racks, e)
	}
	for i, d := range s.Deployments {
		deps = append(deps, map[string]any{"deployment-id": d.Name, "kind": d.Kind, "ordinal": num(i)})
	}
	for _, v := range plan.VLANs {
		e := map[string]any{"name": v.Name, "vid": num(v.VID), "role": v.Role}
		setIf(e, "deployment", v.Deployment)
		vlans = append(vlans, e)
	}
	for _, p := range plan.Prefixes {
		prefixes = append(prefixes, map[string]any{"prefix-id": p.ID, "prefix": p.Prefix, "vlan": p.VLAN,
			"deployment": p.Deployment, "role": p.Role, "dns-domain": p.Domain})
	}

	// Each device's addressed interfaces, their VLANs and its primary.
	ifVLAN := map[string]string{}
	trunkTagged := []any{}
	primary := map[string]string{}
	virtuals := map[string][]AddrPlan{}
	for _, a := range plan.Addrs {
		if a.Primary {
			primary[a.Device] = a.Address.String()
		}
		if a.Virtual != "" {
			k := a.Device + ":" + a.Virtual
			if _, seen := ifVLAN[k]; !seen {
				virtuals[a.Device] = append(virtuals[a.Device], a)
				trunkTagged = append(trunkTagged, a.VLAN)
			}
			ifVLAN[k] = a.VLAN
			continue
		}
		ifVLAN[a.Device+":"+a.Interface] = a.VLAN
	}
	for i, d := range s.Devices {
		id := g.deviceID(i)
		ti := g.types[d.Type]
		e := map[string]any{"device-id": id, "devname": d.Devname, "deployment": g.deploymentOf(d), "role": d.Role, "device-type": d.Type}
		setIf(e, "serial", d.Serial)
		setIf(e, "rack", d.Rack)
		if d.Position != 0 {
			e["position"] = num(d.Position)
		}
		if d.Rack != "" {
			face := d.Face
			if face == "" {
				face = "front"
			}
			e["face"] = face
		}
		setIf(e, "primary-ip", primary[id])
		var ifaces []any
		for _, it := range ti.ifaces {
			ie := map[string]any{"name": it.Name, "type": it.Type, "mgmt-only": it.MgmtOnly}
			if mac, ok := d.MACs[it.Name]; ok {
				hw, _ := net.ParseMAC(mac)
				ie["mac-address"] = hw.String()
			}
			switch {
			case d.Role == "management-server" && it.Name == msTrunk:
				ie["mode"], ie["untagged-vlan"], ie["tagged-vlan"] = "tagged", "ADMIN", trunkTagged
			case d.Role == "management-server" && it.Name == msUplink:
				ie["mode"], ie["untagged-vlan"] = "access", "UPLINK"
			default:
				if v, ok := ifVLAN[id+":"+it.Name]; ok {
					ie["mode"], ie["untagged-vlan"] = "access", v
				}
			}
			ifaces = append(ifaces, ie)
		}
		for _, v := range virtuals[id] {
			ifaces = append(ifaces, map[string]any{"name": v.Virtual, "type": "virtual", "label": v.VirtualFor,
				"parent": v.VirtualFor, "untagged-vlan": v.VLAN})
		}
		e["interface"] = ifaces
		devices = append(devices, e)
	}
	for _, c := range s.Cables {
		ad, ai, _ := strings.Cut(c.A, ":")
		bd, bi, _ := strings.Cut(c.B, ":")
		e := map[string]any{"cable-id": g.cableID(c),
			"a": map[string]any{"device": g.resolveID(ad), "interface": ai},
			"b": map[string]any{"device": g.resolveID(bd), "interface": bi}}
		setIf(e, "label", c.Label)
		setIf(e, "type", c.Type)
		setIf(e, "color", c.Color)
		if c.Length != 0 {
			e["length"] = json.Number(strconv.FormatFloat(c.Length, 'f', 2, 64))
			e["length-unit"] = c.LengthUnit
		}
		cables = append(cables, e)
	}
	for k, v := range map[string][]any{"rack": racks, "deployment": deps, "vlan": vlans, "prefix": prefixes, "device": devices, "cable": cables} {
		if len(v) > 0 {
			site[k] = v
		}
	}
	out.Site = site
	for _, a := range plan.Addrs {
		out.IPs = append(out.IPs, map[string]any{"address": a.Address.String(), "prefix-length": num(a.Length),
			"site": s.Site, "device": a.Device, "interface": a.Interface, "dns-name": a.DNSName})
	}
	return out
}

// resolveID turns a checked cable end's device name into the device's id.
func (g *generator) resolveID(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	for i, d := range g.spec.Devices {
		if d.Devname == name {
			return g.deviceID(i)
		}
	}
	return name
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
