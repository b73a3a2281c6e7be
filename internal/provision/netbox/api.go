// Package netbox reads an existing NetBox 4.x through its REST API (or
// from saved API responses) and maps what it holds onto the `inventory`
// model set, so that an operator with a NetBox brings it along
// (docs/provisioning.md, "Importing from NetBox"). It also reads device
// types in the community devicetype-library's YAML format.
//
// No Go client of NetBox is used: the client follows NetBox's documented
// REST API (docs/integrations/rest-api.md of netbox-community/netbox:
// pagination by limit/offset with `next` links, `?brief=true`, the
// `Authorization: Token` and v2 `Bearer nbt_` headers) and the shapes its
// serializers produce (netbox/*/api/serializers_/*.py). It never writes to
// AMP: the mapped tree goes to the server's import route, which computes
// and commits the change as one transaction.
package netbox

import (
	"encoding/json"
	"strconv"
)

// Endpoint is one NetBox list endpoint the import reads.
type Endpoint struct {
	Path  string // below the API root, e.g. dcim/sites
	Brief bool   // read with ?brief=true: the brief shape holds all the import needs
}

// Endpoints are read in this order; the mapping needs them all.
var Endpoints = []Endpoint{
	{Path: "tenancy/tenants", Brief: true},
	{Path: "dcim/manufacturers", Brief: true},
	{Path: "dcim/device-types"},
	{Path: "dcim/interface-templates"},
	{Path: "dcim/sites"},
	{Path: "dcim/racks"},
	{Path: "dcim/devices"},
	{Path: "dcim/interfaces"},
	{Path: "dcim/cables"},
	{Path: "ipam/vlans"},
	{Path: "ipam/prefixes"},
	{Path: "ipam/ip-addresses"},
}

// Ref is a related object in NetBox's nested (brief) form: {id, url,
// display, name, slug, ...}; which of name and slug it has depends on the
// model.
type Ref struct {
	ID      int    `json:"id"`
	URL     string `json:"url"`
	Display string `json:"display"`
	Name    string `json:"name"`
	Slug    string `json:"slug"`
}

// Choice is a choice field: {"value": "active", "label": "Active"}.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// value is a choice's value, "" for null.
func (c *Choice) value() string {
	if c == nil {
		return ""
	}
	return c.Value
}

// Tag is an entry of an object's tags.
type Tag struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// Tenant is /api/tenancy/tenants/ (brief).
type Tenant struct {
	Ref
	Description string `json:"description"`
}

// Manufacturer is /api/dcim/manufacturers/ (brief).
type Manufacturer struct {
	Ref
}

// DeviceType is /api/dcim/device-types/.
type DeviceType struct {
	ID           int     `json:"id"`
	URL          string  `json:"url"`
	Manufacturer *Ref    `json:"manufacturer"`
	Model        string  `json:"model"`
	Slug         string  `json:"slug"`
	PartNumber   string  `json:"part_number"`
	UHeight      float64 `json:"u_height"`
	IsFullDepth  bool    `json:"is_full_depth"`
}

// InterfaceTemplate is /api/dcim/interface-templates/.
type InterfaceTemplate struct {
	ID         int     `json:"id"`
	URL        string  `json:"url"`
	DeviceType *Ref    `json:"device_type"` // null for a module type's
	Name       string  `json:"name"`
	Label      string  `json:"label"`
	Type       *Choice `json:"type"`
	MgmtOnly   bool    `json:"mgmt_only"`
}

// Site is /api/dcim/sites/.
type Site struct {
	ID              int    `json:"id"`
	URL             string `json:"url"`
	Name            string `json:"name"`
	Slug            string `json:"slug"`
	Tenant          *Ref   `json:"tenant"`
	Facility        string `json:"facility"`
	PhysicalAddress string `json:"physical_address"`
	Description     string `json:"description"`
}

// Rack is /api/dcim/racks/.
type Rack struct {
	ID      int     `json:"id"`
	URL     string  `json:"url"`
	Name    string  `json:"name"`
	Site    *Ref    `json:"site"`
	UHeight float64 `json:"u_height"`
}

// Device is /api/dcim/devices/.
type Device struct {
	ID           int            `json:"id"`
	URL          string         `json:"url"`
	Name         *string        `json:"name"` // NetBox allows unnamed devices
	DeviceType   *Ref           `json:"device_type"`
	Role         *Ref           `json:"role"`
	Site         *Ref           `json:"site"`
	Rack         *Ref           `json:"rack"`
	Position     *float64       `json:"position"`
	Face         *Choice        `json:"face"`
	Status       *Choice        `json:"status"`
	Serial       string         `json:"serial"`
	AssetTag     *string        `json:"asset_tag"`
	PrimaryIP4   *IPRef         `json:"primary_ip4"`
	Description  string         `json:"description"`
	Tags         []Tag          `json:"tags"`
	CustomFields map[string]any `json:"custom_fields"`
}

// IPRef is a nested IP address.
type IPRef struct {
	ID      int    `json:"id"`
	Address string `json:"address"`
}

// MACRef is a nested MAC address object (NetBox 4.2+).
type MACRef struct {
	MACAddress string `json:"mac_address"`
}

// Interface is /api/dcim/interfaces/.
type Interface struct {
	ID                int     `json:"id"`
	URL               string  `json:"url"`
	Device            *Ref    `json:"device"`
	Name              string  `json:"name"`
	Label             string  `json:"label"`
	Type              *Choice `json:"type"`
	Enabled           bool    `json:"enabled"`
	Parent            *Ref    `json:"parent"`
	MACAddress        *string `json:"mac_address"`         // before 4.2, and read-only since
	PrimaryMACAddress *MACRef `json:"primary_mac_address"` // 4.2+
	MgmtOnly          bool    `json:"mgmt_only"`
	Description       string  `json:"description"`
	Mode              *Choice `json:"mode"`
	UntaggedVLAN      *Ref    `json:"untagged_vlan"`
	TaggedVLANs       []Ref   `json:"tagged_vlans"`
}

// Termination is one end of a cable: a generic object.
type Termination struct {
	ObjectType string          `json:"object_type"`
	ObjectID   int             `json:"object_id"`
	Object     json.RawMessage `json:"object"`
}

// Cable is /api/dcim/cables/.
type Cable struct {
	ID            int           `json:"id"`
	URL           string        `json:"url"`
	Type          string        `json:"type"`
	ATerminations []Termination `json:"a_terminations"`
	BTerminations []Termination `json:"b_terminations"`
	Status        *Choice       `json:"status"`
	Label         string        `json:"label"`
	Color         string        `json:"color"`
	Length        *float64      `json:"length"`
	LengthUnit    *Choice       `json:"length_unit"`
	Description   string        `json:"description"`
}

// VLAN is /api/ipam/vlans/.
type VLAN struct {
	ID          int    `json:"id"`
	URL         string `json:"url"`
	Site        *Ref   `json:"site"`
	VID         int    `json:"vid"`
	Name        string `json:"name"`
	Role        *Ref   `json:"role"`
	Description string `json:"description"`
}

// Prefix is /api/ipam/prefixes/. Since NetBox 4.2 a prefix has a scope
// (scope_type dcim.site and the site in scope); before, a site.
type Prefix struct {
	ID          int     `json:"id"`
	URL         string  `json:"url"`
	Prefix      string  `json:"prefix"`
	VRF         *Ref    `json:"vrf"`
	ScopeType   *string `json:"scope_type"`
	Scope       *Ref    `json:"scope"`
	Site        *Ref    `json:"site"`
	VLAN        *Ref    `json:"vlan"`
	Role        *Ref    `json:"role"`
	Description string  `json:"description"`
}

// IPAddress is /api/ipam/ip-addresses/.
type IPAddress struct {
	ID                 int     `json:"id"`
	URL                string  `json:"url"`
	Address            string  `json:"address"`
	VRF                *Ref    `json:"vrf"`
	Status             *Choice `json:"status"`
	AssignedObjectType *string `json:"assigned_object_type"`
	AssignedObjectID   *int    `json:"assigned_object_id"`
	DNSName            string  `json:"dns_name"`
	Description        string  `json:"description"`
}

// Dump is everything the import read, by endpoint.
type Dump struct {
	Tenants            []Tenant
	Manufacturers      []Manufacturer
	DeviceTypes        []DeviceType
	InterfaceTemplates []InterfaceTemplate
	Sites              []Site
	Racks              []Rack
	Devices            []Device
	Interfaces         []Interface
	Cables             []Cable
	VLANs              []VLAN
	Prefixes           []Prefix
	IPAddresses        []IPAddress
}

// target is where an endpoint's results go.
func (d *Dump) target(path string) any {
	switch path {
	case "tenancy/tenants":
		return &d.Tenants
	case "dcim/manufacturers":
		return &d.Manufacturers
	case "dcim/device-types":
		return &d.DeviceTypes
	case "dcim/interface-templates":
		return &d.InterfaceTemplates
	case "dcim/sites":
		return &d.Sites
	case "dcim/racks":
		return &d.Racks
	case "dcim/devices":
		return &d.Devices
	case "dcim/interfaces":
		return &d.Interfaces
	case "dcim/cables":
		return &d.Cables
	case "ipam/vlans":
		return &d.VLANs
	case "ipam/prefixes":
		return &d.Prefixes
	case "ipam/ip-addresses":
		return &d.IPAddresses
	}
	panic("netbox: no target for endpoint " + strconv.Quote(path))
}
