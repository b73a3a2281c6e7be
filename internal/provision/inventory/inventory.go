// Package inventory reads the `inventory` model set (models/inventory) out
// of an engine snapshot into typed Go values, with the model's defaults
// applied, for the provisioning code that works from it: the conventions
// check, IPAM, the artifact renderers, the rack and cable views and the
// cluster plans. It never writes: changes go through the engine as
// transactions like every other write.
//
// It imports the engine and the schema only.
package inventory

import (
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// SetName and Version name the model set this package reads.
const (
	SetName = "inventory"
	Version = "1.0.0"
)

// Inventory is the whole set as of one snapshot.
type Inventory struct {
	Index         uint64 // the snapshot's transaction index
	Organizations map[string]*Organization
	Manufacturers map[string]*Manufacturer
	DeviceTypes   map[string]*DeviceType
	Sites         map[string]*Site
	IPs           map[string]*IPAddress // by address
	Clusters      map[string]*Cluster
}

// Organization is who a site belongs to.
type Organization struct {
	ID, DisplayName, Tenant, Description string
}

// Manufacturer makes device types.
type Manufacturer struct {
	ID, DisplayName string
}

// DeviceType is a model of device and its interface templates.
type DeviceType struct {
	ID, Manufacturer, Model, PartNumber string
	UHeight                             int
	FullDepth                           bool
	Interfaces                          []*InterfaceTemplate // by name
}

// InterfaceTemplate is an interface every device of a type has.
type InterfaceTemplate struct {
	Name, Type, Label string
	MgmtOnly          bool
}

// Site is an edge site with everything nested in it.
type Site struct {
	ID, DisplayName, Organization, Tenant string
	AetherSites                           []string
	Location, Address, Domain, IPBlock    string
	Description                           string
	Racks                                 map[string]*Rack
	Deployments                           map[string]*Deployment
	VLANs                                 map[string]*VLAN // by name
	Prefixes                              map[string]*Prefix
	Devices                               map[string]*Device
	Cables                                map[string]*Cable
	// Modified is the newest index of a change to the site's subtree.
	Modified uint64
}

// Rack is a rack at a site.
type Rack struct {
	ID, DisplayName string
	UHeight         int
}

// Deployment is a logical cluster of a site's hardware.
type Deployment struct {
	ID, Kind string
	Ordinal  int
}

// VLAN is a VLAN of a site.
type VLAN struct {
	Name, Deployment, Role string
	VID                    int
}

// Prefix is an IP prefix of a site.
type Prefix struct {
	ID, Prefix, VLAN, Deployment, Role, DNSDomain, Gateway, Description string
}

// Device is a device at a site.
type Device struct {
	ID, Devname, Deployment, Role, DeviceType, Serial, AssetTag string
	Rack                                                        string
	Position                                                    int // 0: none
	Face, Status, PrimaryIP, Description                        string
	Interfaces                                                  map[string]*Interface
}

// Interface is an interface of a device.
type Interface struct {
	Name, Label, Type, MAC, Parent, Mode, UntaggedVLAN, Description string
	TaggedVLANs                                                     []string
	MgmtOnly, Enabled                                               bool
}

// Cable joins two device interfaces of a site.
type Cable struct {
	ID, Label   string
	A, B        End
	Type        string
	Status      string
	Length      string // decimal text, "" if unknown
	LengthUnit  string
	Color       string
	Description string
}

// End is one end of a cable.
type End struct {
	Device, Interface string
}

// IPAddress is an address and where it is assigned.
type IPAddress struct {
	Address                                  string
	PrefixLength                             int
	Site, Device, Interface, DNSName, Status string
	Description                              string
}

// Cluster is a Kubernetes cluster declared as code.
type Cluster struct {
	ID, Site, Deployment, Distribution, KubernetesVersion string
	CNI                                                   []string
	Labels                                                map[string]string
	Nodes                                                 map[string]*ClusterNode
	Namespaces                                            []string // kept created by its agent
}

// ClusterNode is a node of a cluster.
type ClusterNode struct {
	Name, Device, Host    string
	Roles, Labels, Taints []string
}

// Set returns the inventory set in sch, or nil when it is not loaded.
func Set(sch *schema.Schema) *schema.ModelSet { return sch.Set(SetName, Version) }

// Load reads the whole inventory set as of snap.
func Load(snap *config.Snapshot, set *schema.ModelSet) *Inventory {
	inv := &Inventory{
		Index:         snap.Index,
		Organizations: map[string]*Organization{},
		Manufacturers: map[string]*Manufacturer{},
		DeviceTypes:   map[string]*DeviceType{},
		Sites:         map[string]*Site{},
		IPs:           map[string]*IPAddress{},
		Clusters:      map[string]*Cluster{},
	}
	topLevel(snap, set, func(list string, o *config.Object) {
		switch list {
		case "organization":
			org := orgOf(o.Data)
			inv.Organizations[org.ID] = org
		case "manufacturer":
			m := &Manufacturer{ID: str(o.Data, "manufacturer-id"), DisplayName: str(o.Data, "display-name")}
			inv.Manufacturers[m.ID] = m
		case "device-type":
			tree, _ := snap.Tree(o)
			dt := deviceTypeOf(tree)
			inv.DeviceTypes[dt.ID] = dt
		case "site":
			tree, ver := snap.Tree(o)
			s := SiteOf(tree)
			s.Modified = ver
			inv.Sites[s.ID] = s
		case "ip-address":
			ip := IPOf(o.Data)
			inv.IPs[ip.Address] = ip
		case "cluster":
			tree, _ := snap.Tree(o)
			c := ClusterOf(tree)
			inv.Clusters[c.ID] = c
		}
	})
	return inv
}

// LoadSite reads one site's subtree; ok is false when it does not exist.
func LoadSite(snap *config.Snapshot, set *schema.ModelSet, siteID string) (*Site, bool) {
	o, ok := snap.Get(SiteKey(set, siteID))
	if !ok {
		return nil, false
	}
	tree, ver := snap.Tree(o)
	s := SiteOf(tree)
	s.Modified = ver
	return s, true
}

// SiteKey is the storage key of a site.
func SiteKey(set *schema.ModelSet, siteID string) string {
	return schema.RootKey(set, "") + "/site/" + schema.EscapeSegment(siteID)
}

// topLevel calls fn for every entry of the set's top-level lists, in key
// order.
func topLevel(snap *config.Snapshot, set *schema.ModelSet, fn func(list string, o *config.Object)) {
	prefix := schema.RootKey(set, "") + "/"
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		rest := string(k[len(prefix):])
		list, id, found := strings.Cut(rest, "/")
		if !found || strings.Contains(id, "/") || o.Node == nil {
			continue
		}
		fn(list, o)
	}
}

func orgOf(m map[string]any) *Organization {
	return &Organization{ID: str(m, "org-id"), DisplayName: str(m, "display-name"), Tenant: str(m, "tenant"), Description: str(m, "description")}
}

func deviceTypeOf(m map[string]any) *DeviceType {
	dt := &DeviceType{
		ID: str(m, "device-type-id"), Manufacturer: str(m, "manufacturer"), Model: str(m, "model"),
		PartNumber: str(m, "part-number"), UHeight: intDef(m, "u-height", 1), FullDepth: boolDef(m, "full-depth", true),
	}
	for _, e := range Entries(m, "interface-template") {
		dt.Interfaces = append(dt.Interfaces, &InterfaceTemplate{
			Name: str(e, "name"), Type: str(e, "type"), Label: str(e, "label"), MgmtOnly: boolDef(e, "mgmt-only", false),
		})
	}
	sort.Slice(dt.Interfaces, func(i, j int) bool { return dt.Interfaces[i].Name < dt.Interfaces[j].Name })
	return dt
}

// SiteOf reads a site from its canonical tree (as config.Snapshot.Tree
// returns it).
func SiteOf(m map[string]any) *Site {
	s := &Site{
		ID: str(m, "site-id"), DisplayName: str(m, "display-name"), Organization: str(m, "organization"),
		Tenant: str(m, "tenant"), AetherSites: strs(m, "aether-site"), Location: str(m, "location"),
		Address: str(m, "address"), Domain: str(m, "domain"), IPBlock: str(m, "ip-block"), Description: str(m, "description"),
		Racks: map[string]*Rack{}, Deployments: map[string]*Deployment{}, VLANs: map[string]*VLAN{},
		Prefixes: map[string]*Prefix{}, Devices: map[string]*Device{}, Cables: map[string]*Cable{},
	}
	for _, e := range Entries(m, "rack") {
		r := &Rack{ID: str(e, "rack-id"), DisplayName: str(e, "display-name"), UHeight: intDef(e, "u-height", 42)}
		s.Racks[r.ID] = r
	}
	for _, e := range Entries(m, "deployment") {
		d := &Deployment{ID: str(e, "deployment-id"), Kind: str(e, "kind"), Ordinal: intDef(e, "ordinal", 0)}
		s.Deployments[d.ID] = d
	}
	for _, e := range Entries(m, "vlan") {
		v := VLANOf(e)
		s.VLANs[v.Name] = v
	}
	for _, e := range Entries(m, "prefix") {
		p := PrefixOf(e)
		s.Prefixes[p.ID] = p
	}
	for _, e := range Entries(m, "device") {
		d := DeviceOf(e)
		s.Devices[d.ID] = d
	}
	for _, e := range Entries(m, "cable") {
		c := &Cable{
			ID: str(e, "cable-id"), Label: str(e, "label"), A: endOf(sub(e, "a")), B: endOf(sub(e, "b")),
			Type: str(e, "type"), Status: strDef(e, "status", "connected"), Length: str(e, "length"),
			LengthUnit: str(e, "length-unit"), Color: str(e, "color"), Description: str(e, "description"),
		}
		s.Cables[c.ID] = c
	}
	return s
}

// VLANOf reads a vlan entry (an object's data or its canonical tree).
func VLANOf(m map[string]any) *VLAN {
	return &VLAN{Name: str(m, "name"), VID: intDef(m, "vid", 0), Deployment: str(m, "deployment"), Role: strDef(m, "role", "other")}
}

// PrefixOf reads a prefix entry (an object's data or its canonical tree).
func PrefixOf(m map[string]any) *Prefix {
	return &Prefix{
		ID: str(m, "prefix-id"), Prefix: str(m, "prefix"), VLAN: str(m, "vlan"), Deployment: str(m, "deployment"),
		Role: strDef(m, "role", "other"), DNSDomain: str(m, "dns-domain"), Gateway: str(m, "gateway"), Description: str(m, "description"),
	}
}

// DeviceOf reads a device from its canonical tree.
func DeviceOf(m map[string]any) *Device {
	d := &Device{
		ID: str(m, "device-id"), Devname: str(m, "devname"), Deployment: str(m, "deployment"), Role: str(m, "role"),
		DeviceType: str(m, "device-type"), Serial: str(m, "serial"), AssetTag: str(m, "asset-tag"), Rack: str(m, "rack"),
		Position: intDef(m, "position", 0), Face: strDef(m, "face", "front"), Status: strDef(m, "status", "active"),
		PrimaryIP: str(m, "primary-ip"), Description: str(m, "description"), Interfaces: map[string]*Interface{},
	}
	for _, e := range Entries(m, "interface") {
		i := &Interface{
			Name: str(e, "name"), Label: str(e, "label"), Type: str(e, "type"), MAC: str(e, "mac-address"),
			Parent: str(e, "parent"), Mode: str(e, "mode"), UntaggedVLAN: str(e, "untagged-vlan"),
			Description: str(e, "description"), TaggedVLANs: strs(e, "tagged-vlan"),
			MgmtOnly: boolDef(e, "mgmt-only", false), Enabled: boolDef(e, "enabled", true),
		}
		d.Interfaces[i.Name] = i
	}
	return d
}

func endOf(m map[string]any) End {
	return End{Device: str(m, "device"), Interface: str(m, "interface")}
}

// IPOf reads an ip-address entry.
func IPOf(m map[string]any) *IPAddress {
	return &IPAddress{
		Address: str(m, "address"), PrefixLength: intDef(m, "prefix-length", 0), Site: str(m, "site"),
		Device: str(m, "device"), Interface: str(m, "interface"), DNSName: str(m, "dns-name"),
		Status: strDef(m, "status", "active"), Description: str(m, "description"),
	}
}

// ClusterOf reads a cluster from its canonical tree (or anything of its
// shape: the cluster's report state has it).
func ClusterOf(m map[string]any) *Cluster {
	c := &Cluster{
		ID: str(m, "cluster-id"), Site: str(m, "site"), Deployment: str(m, "deployment"),
		Distribution: strDef(m, "distribution", "rke2"), KubernetesVersion: str(m, "kubernetes-version"),
		CNI: strs(m, "cni"), Labels: map[string]string{}, Nodes: map[string]*ClusterNode{},
		Namespaces: strs(m, "namespace"),
	}
	for _, e := range Entries(m, "label") {
		c.Labels[str(e, "name")] = str(e, "value")
	}
	for _, e := range Entries(m, "node") {
		n := &ClusterNode{
			Name: str(e, "name"), Device: str(e, "device"), Host: str(e, "host"),
			Roles: strs(e, "role"), Labels: strs(e, "node-label"), Taints: strs(e, "taint"),
		}
		c.Nodes[n.Name] = n
	}
	return c
}

// Sorted returns m's keys in order: the renderers' output is deterministic.
func Sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Entries are the entries of list in a decoded object (nil-safe).
func Entries(m map[string]any, list string) []map[string]any {
	items, _ := m[list].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if e, ok := it.(map[string]any); ok {
			out = append(out, e)
		}
	}
	return out
}

func sub(m map[string]any, name string) map[string]any {
	s, _ := m[name].(map[string]any)
	return s
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func strDef(m map[string]any, k, def string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return def
}

func strs(m map[string]any, k string) []string {
	items, _ := m[k].([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func intDef(m map[string]any, k string, def int) int {
	switch v := m[k].(type) {
	case uint64:
		return int(v)
	case int64:
		return int(v)
	}
	return def
}

func boolDef(m map[string]any, k string, def bool) bool {
	if b, ok := m[k].(bool); ok {
		return b
	}
	return def
}
