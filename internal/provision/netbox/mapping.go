package netbox

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Options steer the mapping where NetBox has no field AMP needs.
type Options struct {
	// Roles maps NetBox device role slugs to AMP roles, over DefaultRoles.
	Roles map[string]string
	// DefaultRole is the role of a device whose role maps to none; ""
	// refuses such a device.
	DefaultRole string
	// DeploymentField is the custom field naming a device's deployment
	// ("" : "deployment"). A tag deployment-<name> names it too.
	DeploymentField string
	// DefaultDeployment is the deployment of a device that names none (""
	// : none, which AMP allows: a device the deployments share).
	DefaultDeployment string
	// DeploymentKinds gives the kind of a deployment whose name does not
	// start with prod, stag or dev.
	DeploymentKinds map[string]string
	// DefaultOrganization is the organization of a site without a tenant;
	// "" refuses such a site.
	DefaultOrganization string
}

// DefaultRoles is the documented mapping of NetBox device role slugs to
// the inventory's roles (docs/provisioning.md): the roles' own names, and
// the names NetBox installations and the book's edgeconfig commonly use.
var DefaultRoles = map[string]string{
	"management-server": "management-server", "mgmt-server": "management-server", "router": "management-server",
	"management-switch": "management-switch", "mgmt-switch": "management-switch",
	"fabric-switch": "fabric-switch", "leaf": "fabric-switch", "spine": "fabric-switch",
	"leaf-switch": "fabric-switch", "spine-switch": "fabric-switch",
	"compute-server": "compute-server", "server": "compute-server", "compute": "compute-server",
	"radio": "radio", "enb": "radio", "gnb": "radio", "small-cell": "radio",
	"other": "other",
}

// Roles are the inventory's device roles.
var Roles = []string{"management-server", "management-switch", "fabric-switch", "compute-server", "radio", "other"}

// Kinds are the inventory's deployment kinds.
var Kinds = []string{"production", "staging", "development"}

// Result is the mapped inventory.
type Result struct {
	// Tree is the inventory set's root as JSON (the shape of GET
	// /inventory/v1.0.0), as a merge patch: a leaf NetBox leaves empty is
	// null, so the import clears it; leaves NetBox has no field for are
	// absent, so AMP keeps them.
	Tree map[string]any
	// Counts is how many entries of each kind were mapped.
	Counts map[string]int
	// Skipped says what NetBox holds that the inventory cannot (a console
	// cable, an address in a VRF, ...), one line each with its URL.
	Skipped []string
}

// MapError is everything the mapping refused, each with the NetBox URL of
// the object and the field.
type MapError struct {
	Problems []FieldError
}

func (e *MapError) Error() string {
	lines := make([]string, len(e.Problems))
	for i := range e.Problems {
		lines[i] = e.Problems[i].Error()
	}
	return fmt.Sprintf("%d objects cannot be imported:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

type mapper struct {
	opt  Options
	errs []FieldError
	res  *Result

	orgs    map[string]map[string]any
	mfrs    map[string]map[string]any
	dtypes  map[int]map[string]any // by NetBox id
	sites   map[int]*siteOut
	racks   map[int]string // NetBox id → rack-id
	devices map[int]*devOut
	ifaces  map[int]*ifOut
	vlans   map[int]vlanRef
	ips     map[string]map[string]any // by address
}

type siteOut struct {
	id                                      string
	entry                                   map[string]any
	racks, vlans, prefixes, devices, cables map[string]map[string]any
	deployments                             map[string]string // id → kind
	rackURLs, vlanURLs, devURLs, prefixURLs map[string]string // id → the NetBox URL that made it
}

type devOut struct {
	site  *siteOut
	id    string
	entry map[string]any
	ifs   map[string]map[string]any
}

type ifOut struct {
	dev  *devOut
	name string
}

type vlanRef struct {
	site *siteOut
	name string
}

func (m *mapper) fail(url, field, format string, a ...any) {
	m.errs = append(m.errs, FieldError{URL: url, Field: field, Reason: fmt.Sprintf(format, a...)})
}

func (m *mapper) skip(url, format string, a ...any) {
	m.res.Skipped = append(m.res.Skipped, url+": "+fmt.Sprintf(format, a...))
}

// Map maps what was read onto the inventory. Every object it cannot map is
// reported (MapError), and then nothing is to be imported.
func Map(d *Dump, opt Options) (*Result, error) {
	if opt.DeploymentField == "" {
		opt.DeploymentField = "deployment"
	}
	m := &mapper{
		opt: opt, res: &Result{Counts: map[string]int{}},
		orgs: map[string]map[string]any{}, mfrs: map[string]map[string]any{}, dtypes: map[int]map[string]any{},
		sites: map[int]*siteOut{}, racks: map[int]string{}, devices: map[int]*devOut{}, ifaces: map[int]*ifOut{},
		vlans: map[int]vlanRef{}, ips: map[string]map[string]any{},
	}
	m.tenants(d.Tenants)
	m.manufacturers(d.Manufacturers)
	m.deviceTypes(d.DeviceTypes, d.InterfaceTemplates)
	m.siteList(d.Sites)
	m.rackList(d.Racks)
	m.vlanList(d.VLANs)
	m.prefixList(d.Prefixes)
	m.deviceList(d.Devices)
	m.interfaceList(d.Interfaces)
	m.cableList(d.Cables)
	m.ipList(d.IPAddresses)
	m.primaryIPs(d.Devices)
	if len(m.errs) > 0 {
		return nil, &MapError{Problems: m.errs}
	}
	m.res.Tree = m.tree()
	return m.res, nil
}

var (
	invID    = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	vlanName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	typeSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)
	notIDs   = regexp.MustCompile(`[^a-z0-9._-]+`)
	notDNS   = regexp.MustCompile(`[^a-z0-9-]+`)
	notVLAN  = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// ident turns a NetBox name or slug into an inventory identifier: lower
// case, each run of other characters one '-', 63 characters at most; ""
// when nothing is left.
func ident(s string, dns bool) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if dns {
		s = notDNS.ReplaceAllString(s, "-")
	} else {
		s = notIDs.ReplaceAllString(s, "-")
	}
	if len(s) > 63 {
		s = s[:63]
	}
	s = strings.Trim(s, "-._")
	if dns && !dnsLabel.MatchString(s) || !dns && !invID.MatchString(s) {
		return ""
	}
	return s
}

// opt sets a leaf NetBox owns: its value, or null (clear it) when empty.
func opt(e map[string]any, leaf, v string) {
	if v == "" {
		e[leaf] = nil
	} else {
		e[leaf] = v
	}
}

func (m *mapper) tenants(ts []Tenant) {
	for _, t := range ts {
		id := ident(t.Slug, false)
		if id == "" {
			m.fail(t.URL, "slug", "%q makes no organization id", t.Slug)
			continue
		}
		e := map[string]any{"org-id": id}
		opt(e, "display-name", clip(t.Name, 80))
		opt(e, "description", t.Description)
		m.orgs[id] = e
	}
}

func (m *mapper) manufacturers(ms []Manufacturer) {
	for _, x := range ms {
		id := ident(x.Slug, false)
		if id == "" {
			m.fail(x.URL, "slug", "%q makes no manufacturer id", x.Slug)
			continue
		}
		e := map[string]any{"manufacturer-id": id}
		opt(e, "display-name", clip(x.Name, 80))
		m.mfrs[id] = e
	}
}

// height reads a number of rack units; NetBox allows half units, the
// inventory does not.
func (m *mapper) height(url, field string, v float64, lo, hi int) (int, bool) {
	if v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
		m.fail(url, field, "%v is not a whole number of rack units from %d to %d", v, lo, hi)
		return 0, false
	}
	return int(v), true
}

func (m *mapper) deviceTypes(dts []DeviceType, tmpls []InterfaceTemplate) {
	byType := map[int][]map[string]any{}
	for _, t := range tmpls {
		if t.DeviceType == nil {
			continue // a module type's template
		}
		typ := t.Type.value()
		if !typeSlug.MatchString(typ) {
			m.fail(t.URL, "type", "%q is not an interface type", typ)
			continue
		}
		e := map[string]any{"name": t.Name, "type": typ, "mgmt-only": t.MgmtOnly}
		opt(e, "label", t.Label)
		byType[t.DeviceType.ID] = append(byType[t.DeviceType.ID], e)
	}
	for _, dt := range dts {
		id := ident(dt.Slug, false)
		if id == "" {
			m.fail(dt.URL, "slug", "%q makes no device type id", dt.Slug)
			continue
		}
		if dt.Manufacturer == nil {
			m.fail(dt.URL, "manufacturer", "missing")
			continue
		}
		uh, ok := m.height(dt.URL, "u_height", dt.UHeight, 0, 60)
		if !ok {
			continue
		}
		e := map[string]any{
			"device-type-id": id, "manufacturer": ident(dt.Manufacturer.Slug, false), "model": clip(dt.Model, 100),
			"u-height": uh, "full-depth": dt.IsFullDepth,
		}
		opt(e, "part-number", dt.PartNumber)
		its := byType[dt.ID]
		sortBy(its, "name")
		e["interface-template"] = anySlice(its)
		m.dtypes[dt.ID] = e
	}
}

func (m *mapper) siteList(ss []Site) {
	seen := map[string]string{}
	for _, s := range ss {
		id := ident(s.Slug, true)
		if id == "" {
			m.fail(s.URL, "slug", "%q makes no site id (a DNS label: letters, digits and '-')", s.Slug)
			continue
		}
		if prev, dup := seen[id]; dup {
			m.fail(s.URL, "slug", "makes the site id %q, as %s does", id, prev)
			continue
		}
		seen[id] = s.URL
		org := m.opt.DefaultOrganization
		if s.Tenant != nil {
			org = ident(s.Tenant.Slug, false)
		}
		if org == "" {
			m.fail(s.URL, "tenant", "the site has no tenant, and an AMP site needs its organization: set the tenant in NetBox or give --default-organization")
			continue
		}
		e := map[string]any{"site-id": id, "organization": org}
		opt(e, "display-name", clip(s.Name, 80))
		opt(e, "location", clip(s.Facility, 200))
		opt(e, "address", clip(s.PhysicalAddress, 200))
		opt(e, "description", s.Description)
		m.sites[s.ID] = &siteOut{
			id: id, entry: e, racks: map[string]map[string]any{}, vlans: map[string]map[string]any{},
			prefixes: map[string]map[string]any{}, devices: map[string]map[string]any{}, cables: map[string]map[string]any{},
			deployments: map[string]string{}, rackURLs: map[string]string{}, vlanURLs: map[string]string{},
			devURLs: map[string]string{}, prefixURLs: map[string]string{},
		}
	}
}

// siteOf finds the site a nested reference names.
func (m *mapper) siteOf(url, field string, ref *Ref) *siteOut {
	if ref == nil {
		m.fail(url, field, "missing")
		return nil
	}
	s := m.sites[ref.ID]
	if s == nil {
		m.fail(url, field, "site %d (%s) was not read", ref.ID, ref.Display)
	}
	return s
}

func (m *mapper) rackList(rs []Rack) {
	for _, r := range rs {
		s := m.siteOf(r.URL, "site", r.Site)
		if s == nil {
			continue
		}
		id := ident(r.Name, false)
		if id == "" {
			m.fail(r.URL, "name", "%q makes no rack id", r.Name)
			continue
		}
		if prev, dup := s.rackURLs[id]; dup {
			m.fail(r.URL, "name", "makes the rack id %q, as %s does", id, prev)
			continue
		}
		uh, ok := m.height(r.URL, "u_height", r.UHeight, 1, 60)
		if !ok {
			continue
		}
		e := map[string]any{"rack-id": id, "u-height": uh}
		opt(e, "display-name", clip(r.Name, 80))
		s.racks[id], s.rackURLs[id] = e, r.URL
		m.racks[r.ID] = id
	}
}

// role reads a VLAN's or prefix's role slug: the inventory's own names,
// else other.
func role(r *Ref, allowed ...string) any {
	if r == nil {
		return nil // the model's default, other
	}
	for _, a := range allowed {
		if strings.EqualFold(r.Slug, a) {
			return a
		}
	}
	return "other"
}

func (m *mapper) vlanList(vs []VLAN) {
	for _, v := range vs {
		if v.Site == nil {
			m.skip(v.URL, "the VLAN has no site (AMP's VLANs belong to a site)")
			continue
		}
		s := m.siteOf(v.URL, "site", v.Site)
		if s == nil {
			continue
		}
		name := strings.Trim(notVLAN.ReplaceAllString(v.Name, "-"), "-_")
		if len(name) > 64 {
			name = name[:64]
		}
		if !vlanName.MatchString(name) {
			m.fail(v.URL, "name", "%q makes no VLAN name", v.Name)
			continue
		}
		if prev, dup := s.vlanURLs[name]; dup {
			m.fail(v.URL, "name", "makes the VLAN name %q, as %s does", name, prev)
			continue
		}
		if v.VID < 1 || v.VID > 4094 {
			m.fail(v.URL, "vid", "%d is not a VLAN id (1-4094)", v.VID)
			continue
		}
		s.vlans[name] = map[string]any{"name": name, "vid": v.VID, "role": role(v.Role, "admin", "uplink", "mgmt", "fabric")}
		s.vlanURLs[name] = v.URL
		m.vlans[v.ID] = vlanRef{site: s, name: name}
	}
}

func (m *mapper) prefixList(ps []Prefix) {
	for _, p := range ps {
		site := p.Site
		if p.ScopeType != nil { // NetBox 4.2+: the scope
			site = nil
			if *p.ScopeType == "dcim.site" {
				site = p.Scope
			}
		}
		if site == nil {
			m.skip(p.URL, "the prefix is not scoped to a site (AMP's prefixes belong to a site)")
			continue
		}
		if p.VRF != nil {
			m.skip(p.URL, "the prefix is in VRF %s (AMP has one VRF, the global table)", p.VRF.Display)
			continue
		}
		s := m.siteOf(p.URL, "scope", site)
		if s == nil {
			continue
		}
		pf, err := netip.ParsePrefix(p.Prefix)
		if err != nil || !pf.Addr().Is4() || pf.Masked() != pf {
			if err == nil && !pf.Addr().Is4() {
				m.skip(p.URL, "%s is IPv6 (AMP's prefixes are IPv4)", p.Prefix)
				continue
			}
			m.fail(p.URL, "prefix", "%q is not an IPv4 prefix", p.Prefix)
			continue
		}
		id := strings.ReplaceAll(pf.String(), "/", "-")
		if prev, dup := s.prefixURLs[id]; dup {
			m.fail(p.URL, "prefix", "%s is there twice at site %s, as %s", pf, s.id, prev)
			continue
		}
		e := map[string]any{"prefix-id": id, "prefix": pf.String(), "role": role(p.Role, "admin", "mgmt", "fabric", "uplink")}
		e["vlan"] = nil
		if p.VLAN != nil {
			v, ok := m.vlans[p.VLAN.ID]
			switch {
			case !ok:
				m.fail(p.URL, "vlan", "VLAN %s was not imported", p.VLAN.Display)
				continue
			case v.site != s:
				m.fail(p.URL, "vlan", "VLAN %s is at site %s, the prefix at %s", p.VLAN.Display, v.site.id, s.id)
				continue
			}
			e["vlan"] = v.name
		}
		opt(e, "description", p.Description)
		s.prefixes[id], s.prefixURLs[id] = e, p.URL
	}
}

// deviceRole maps a device's NetBox role.
func (m *mapper) deviceRole(d *Device) string {
	slug := ""
	if d.Role != nil {
		slug = d.Role.Slug
	}
	if r, ok := m.opt.Roles[slug]; ok {
		return r
	}
	if r, ok := DefaultRoles[slug]; ok {
		return r
	}
	if m.opt.DefaultRole != "" {
		return m.opt.DefaultRole
	}
	m.fail(d.URL, "role", "role %q maps to no AMP role (%s): map it with --role %s=ROLE or give --default-role", slug, strings.Join(Roles, ", "), slug)
	return ""
}

// deployment reads a device's deployment: the custom field, else a tag
// deployment-<name>, else the default; "" for none.
func (m *mapper) deployment(d *Device) (name, field string) {
	if v, ok := d.CustomFields[m.opt.DeploymentField].(string); ok && v != "" {
		return v, "custom_fields." + m.opt.DeploymentField
	}
	for _, t := range d.Tags {
		if rest, ok := strings.CutPrefix(t.Slug, "deployment-"); ok && rest != "" {
			return rest, "tags"
		}
	}
	return m.opt.DefaultDeployment, "--default-deployment"
}

// kindOf names a deployment's kind: given, or by the name's start.
func (m *mapper) kindOf(name string) string {
	if k, ok := m.opt.DeploymentKinds[name]; ok {
		return k
	}
	for prefix, k := range map[string]string{"prod": "production", "stag": "staging", "dev": "development"} {
		if strings.HasPrefix(name, prefix) {
			return k
		}
	}
	return ""
}

var deviceStatus = map[string]string{
	"planned": "planned", "staged": "staged", "active": "active", "offline": "offline", "failed": "failed",
	"decommissioning": "decommissioning", "inventory": "offline",
}

func (m *mapper) deviceList(ds []Device) {
	for i := range ds {
		d := &ds[i]
		s := m.siteOf(d.URL, "site", d.Site)
		if s == nil {
			continue
		}
		name := ""
		if d.Name != nil {
			name = *d.Name
		}
		id, devname := ident(name, false), ident(name, true)
		if id == "" || devname == "" {
			m.fail(d.URL, "name", "%q makes no device id and DNS label (AMP's devices are named)", name)
			continue
		}
		if prev, dup := s.devURLs[id]; dup {
			m.fail(d.URL, "name", "makes the device id %q, as %s does", id, prev)
			continue
		}
		e := map[string]any{"device-id": id, "devname": devname}
		if r := m.deviceRole(d); r != "" {
			e["role"] = r
		}
		if d.DeviceType == nil || m.dtypes[d.DeviceType.ID] == nil {
			m.fail(d.URL, "device_type", "the device type was not imported")
			continue
		}
		e["device-type"] = m.dtypes[d.DeviceType.ID]["device-type-id"]
		if dep, field := m.deployment(d); dep != "" {
			if !dnsLabel.MatchString(dep) {
				m.fail(d.URL, field, "deployment %q is no DNS label (lower-case letters, digits and '-')", dep)
				continue
			}
			kind := m.kindOf(dep)
			if kind == "" {
				m.fail(d.URL, field, "deployment %q: its kind is unknown (a name starting prod, stag or dev says it): give --deployment-kind %s=production|staging|development", dep, dep)
				continue
			}
			s.deployments[dep] = kind
			e["deployment"] = dep
		}
		opt(e, "serial", clip(d.Serial, 64))
		asset := ""
		if d.AssetTag != nil {
			asset = *d.AssetTag
		}
		opt(e, "asset-tag", clip(asset, 64))
		e["rack"], e["position"], e["face"] = nil, nil, nil
		if d.Rack != nil {
			rack, ok := m.racks[d.Rack.ID]
			if !ok {
				m.fail(d.URL, "rack", "rack %s was not imported", d.Rack.Display)
				continue
			}
			e["rack"] = rack
			if d.Position != nil {
				pos, ok := m.height(d.URL, "position", *d.Position, 1, 60)
				if !ok {
					continue
				}
				e["position"] = pos
			}
			if f := d.Face.value(); f != "" {
				e["face"] = f
			}
		}
		st, ok := deviceStatus[d.Status.value()]
		if !ok && d.Status != nil {
			m.fail(d.URL, "status", "%q is no device status AMP has", d.Status.value())
			continue
		}
		opt(e, "status", st)
		opt(e, "description", d.Description)
		e["primary-ip"] = nil // set by primaryIPs once the addresses are known
		dev := &devOut{site: s, id: id, entry: e, ifs: map[string]map[string]any{}}
		s.devices[id], s.devURLs[id] = e, d.URL
		m.devices[d.ID] = dev
	}
}

var ifModes = map[string]bool{"access": true, "tagged": true, "tagged-all": true}

func (m *mapper) interfaceList(is []Interface) {
	for _, it := range is {
		if it.Device == nil {
			m.fail(it.URL, "device", "missing")
			continue
		}
		dev := m.devices[it.Device.ID]
		if dev == nil {
			m.skip(it.URL, "its device %s was not imported", it.Device.Display)
			continue
		}
		if it.Name == "" || len(it.Name) > 64 {
			m.fail(it.URL, "name", "%q is not an interface name (1-64 characters)", it.Name)
			continue
		}
		typ := it.Type.value()
		if !typeSlug.MatchString(typ) {
			m.fail(it.URL, "type", "%q is not an interface type", typ)
			continue
		}
		e := map[string]any{"name": it.Name, "type": typ, "mgmt-only": it.MgmtOnly, "enabled": it.Enabled}
		opt(e, "label", clip(it.Label, 64))
		mac := ""
		if it.PrimaryMACAddress != nil {
			mac = it.PrimaryMACAddress.MACAddress
		} else if it.MACAddress != nil {
			mac = *it.MACAddress
		}
		opt(e, "mac-address", strings.ToLower(mac))
		e["parent"] = nil
		if it.Parent != nil {
			e["parent"] = it.Parent.Name
		}
		mode := it.Mode.value()
		if mode != "" && !ifModes[mode] {
			m.fail(it.URL, "mode", "%q is no 802.1Q mode AMP has (access, tagged, tagged-all)", mode)
			continue
		}
		opt(e, "mode", mode)
		vlan := func(field string, r Ref) (string, bool) {
			v, ok := m.vlans[r.ID]
			if !ok || v.site != dev.site {
				m.fail(it.URL, field, "VLAN %s is not a VLAN of site %s", r.Display, dev.site.id)
				return "", false
			}
			return v.name, true
		}
		e["untagged-vlan"] = nil
		if it.UntaggedVLAN != nil {
			name, ok := vlan("untagged_vlan", *it.UntaggedVLAN)
			if !ok {
				continue
			}
			e["untagged-vlan"] = name
		}
		var tagged []any
		for i, r := range it.TaggedVLANs {
			name, ok := vlan(fmt.Sprintf("tagged_vlans[%d]", i), r)
			if ok {
				tagged = append(tagged, name)
			}
		}
		sort.Slice(tagged, func(i, j int) bool { return tagged[i].(string) < tagged[j].(string) })
		e["tagged-vlan"] = nil
		if len(tagged) > 0 {
			e["tagged-vlan"] = tagged
		}
		opt(e, "description", it.Description)
		dev.ifs[it.Name] = e
		m.ifaces[it.ID] = &ifOut{dev: dev, name: it.Name}
	}
}

// end reads one side of a cable: exactly one device interface.
func (m *mapper) end(side string, ts []Termination) (*ifOut, string) {
	if len(ts) != 1 {
		return nil, fmt.Sprintf("side %s has %d terminations (AMP's cables join two interfaces)", side, len(ts))
	}
	if ts[0].ObjectType != "dcim.interface" {
		return nil, fmt.Sprintf("side %s is a %s (AMP's cables join two interfaces)", side, ts[0].ObjectType)
	}
	i := m.ifaces[ts[0].ObjectID]
	if i == nil {
		return nil, fmt.Sprintf("side %s: interface %d was not imported", side, ts[0].ObjectID)
	}
	return i, ""
}

var cableStatus = map[string]bool{"connected": true, "planned": true, "decommissioning": true}

func (m *mapper) cableList(cs []Cable) {
	for i := range cs {
		c := &cs[i]
		a, why := m.end("A", c.ATerminations)
		if a == nil {
			m.skip(c.URL, "%s", why)
			continue
		}
		b, why := m.end("B", c.BTerminations)
		if b == nil {
			m.skip(c.URL, "%s", why)
			continue
		}
		if a.dev.site != b.dev.site {
			m.skip(c.URL, "it joins sites %s and %s (AMP's cables are within a site)", a.dev.site.id, b.dev.site.id)
			continue
		}
		id := "cable-" + strconv.Itoa(c.ID) // NetBox's id: stable when the label changes
		e := map[string]any{
			"cable-id": id,
			"a":        map[string]any{"device": a.dev.id, "interface": a.name},
			"b":        map[string]any{"device": b.dev.id, "interface": b.name},
		}
		opt(e, "label", clip(c.Label, 64))
		opt(e, "type", c.Type)
		if c.Type != "" && !typeSlug.MatchString(c.Type) {
			m.fail(c.URL, "type", "%q is not a cable type", c.Type)
			continue
		}
		st := c.Status.value()
		if st != "" && !cableStatus[st] {
			m.fail(c.URL, "status", "%q is no cable status AMP has (connected, planned, decommissioning)", st)
			continue
		}
		opt(e, "status", st)
		e["length"], e["length-unit"] = nil, nil
		if c.Length != nil {
			if c.LengthUnit.value() == "" {
				m.fail(c.URL, "length_unit", "a length needs its unit")
				continue
			}
			e["length"] = strconv.FormatFloat(*c.Length, 'f', 2, 64)
			e["length-unit"] = c.LengthUnit.value()
		}
		opt(e, "color", strings.ToLower(c.Color))
		opt(e, "description", c.Description)
		a.dev.site.cables[id] = e
	}
}

var ipStatus = map[string]bool{"active": true, "reserved": true, "deprecated": true, "dhcp": true}

func (m *mapper) ipList(ips []IPAddress) {
	for _, ip := range ips {
		if ip.VRF != nil {
			m.skip(ip.URL, "the address is in VRF %s (AMP has one VRF, the global table)", ip.VRF.Display)
			continue
		}
		pf, err := netip.ParsePrefix(ip.Address)
		if err != nil {
			m.fail(ip.URL, "address", "%q is not an address with its prefix length", ip.Address)
			continue
		}
		addr := pf.Addr().String()
		if _, dup := m.ips[addr]; dup {
			m.fail(ip.URL, "address", "%s is there twice (AMP has one VRF: an address exists once)", addr)
			continue
		}
		e := map[string]any{"address": addr, "prefix-length": pf.Bits(), "site": nil, "device": nil, "interface": nil}
		if ip.AssignedObjectType != nil && *ip.AssignedObjectType != "" {
			if *ip.AssignedObjectType != "dcim.interface" {
				m.skip(ip.URL, "assigned to a %s (AMP's addresses are on device interfaces)", *ip.AssignedObjectType)
				continue
			}
			if ip.AssignedObjectID == nil || m.ifaces[*ip.AssignedObjectID] == nil {
				m.skip(ip.URL, "its interface was not imported")
				continue
			}
			i := m.ifaces[*ip.AssignedObjectID]
			e["site"], e["device"], e["interface"] = i.dev.site.id, i.dev.id, i.name
		}
		st := ip.Status.value()
		if st != "" && !ipStatus[st] {
			m.fail(ip.URL, "status", "%q is no address status AMP has (active, reserved, deprecated, dhcp)", st)
			continue
		}
		opt(e, "status", st)
		opt(e, "dns-name", strings.TrimSuffix(strings.ToLower(ip.DNSName), "."))
		opt(e, "description", ip.Description)
		m.ips[addr] = e
	}
}

func (m *mapper) primaryIPs(ds []Device) {
	for _, d := range ds {
		dev := m.devices[d.ID]
		if dev == nil || d.PrimaryIP4 == nil {
			continue
		}
		pf, err := netip.ParsePrefix(d.PrimaryIP4.Address)
		if err != nil {
			m.fail(d.URL, "primary_ip4", "%q is not an address with its prefix length", d.PrimaryIP4.Address)
			continue
		}
		if m.ips[pf.Addr().String()] == nil {
			m.skip(d.URL, "primary_ip4 %s left out: the address was not imported", d.PrimaryIP4.Address)
			continue
		}
		dev.entry["primary-ip"] = pf.Addr().String()
	}
}

// tree assembles the set's root in key order (the output is deterministic).
func (m *mapper) tree() map[string]any {
	for _, d := range m.devices {
		d.entry["interface"] = anySlice(values(d.ifs, "name"))
		m.res.Counts["interfaces"] += len(d.ifs)
	}
	var sites []map[string]any
	for _, s := range m.sites {
		e := s.entry
		var deps []map[string]any
		for id, kind := range s.deployments {
			deps = append(deps, map[string]any{"deployment-id": id, "kind": kind})
		}
		e["deployment"] = anySlice(sortedBy(deps, "deployment-id"))
		e["rack"] = anySlice(values(s.racks, "rack-id"))
		e["vlan"] = anySlice(values(s.vlans, "name"))
		e["prefix"] = anySlice(values(s.prefixes, "prefix-id"))
		e["device"] = anySlice(values(s.devices, "device-id"))
		e["cable"] = anySlice(values(s.cables, "cable-id"))
		sites = append(sites, e)
		m.res.Counts["sites"]++
		m.res.Counts["racks"] += len(s.racks)
		m.res.Counts["vlans"] += len(s.vlans)
		m.res.Counts["prefixes"] += len(s.prefixes)
		m.res.Counts["devices"] += len(s.devices)
		m.res.Counts["cables"] += len(s.cables)
	}
	var dts []map[string]any
	for _, dt := range m.dtypes {
		dts = append(dts, dt)
	}
	m.res.Counts["organizations"] = len(m.orgs)
	m.res.Counts["manufacturers"] = len(m.mfrs)
	m.res.Counts["device-types"] = len(dts)
	m.res.Counts["ip-addresses"] = len(m.ips)
	return map[string]any{
		"organization": anySlice(values(m.orgs, "org-id")),
		"manufacturer": anySlice(values(m.mfrs, "manufacturer-id")),
		"device-type":  anySlice(sortedBy(dts, "device-type-id")),
		"site":         anySlice(sortedBy(sites, "site-id")),
		"ip-address":   anySlice(values(m.ips, "address")),
	}
}

func values(m map[string]map[string]any, key string) []map[string]any {
	out := make([]map[string]any, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	return sortedBy(out, key)
}

func sortedBy(es []map[string]any, key string) []map[string]any {
	sortBy(es, key)
	return es
}

func sortBy(es []map[string]any, key string) {
	sort.Slice(es, func(i, j int) bool { return fmt.Sprint(es[i][key]) < fmt.Sprint(es[j][key]) })
}

func anySlice(es []map[string]any) []any {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
