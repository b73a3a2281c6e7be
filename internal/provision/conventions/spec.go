// Package conventions is the book's provisioning conventions as code
// (chapter 3.1.1; docs/provisioning.md, "Site conventions"): a short site
// spec becomes the whole inventory of the site — VLANs, the /22 cut into
// /25 prefixes with their roles and DNS domains, devices with their
// interfaces, the IP plan in the book's order, primary IPs, DNS names and
// cables — and a site entered by hand or imported is checked against the
// same rules.
//
// Generate and Check share one address plan (plan.go), so a generated
// site checks clean and a check names exactly where a site departs from
// what Generate would have made of it. The package builds values; it
// never writes: the provision layer commits them as one transaction.
package conventions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Spec is the short description of a site an operator writes (YAML or
// JSON; docs/provisioning.md has an example).
type Spec struct {
	Site         string       `json:"site"`
	DisplayName  string       `json:"display-name,omitempty"`
	Location     string       `json:"location,omitempty"`
	Address      string       `json:"address,omitempty"`
	Organization Organization `json:"organization"`
	// Domain is the DNS suffix: <devname>.<deployment>.<site>.<domain>.
	Domain string `json:"domain"`
	// Block is the site's /22; deployment k (from 0) takes its k-th /23.
	Block       string       `json:"block"`
	Deployments []Deployment `json:"deployments"`
	Racks       []Rack       `json:"racks,omitempty"`
	DeviceTypes []DeviceType `json:"device-types,omitempty"`
	Devices     []Device     `json:"devices"`
	Cables      []Cable      `json:"cables,omitempty"`
}

// Organization is who the site belongs to, optionally an Aether
// enterprise (its tenant).
type Organization struct {
	ID          string `json:"id"`
	DisplayName string `json:"display-name,omitempty"`
	Tenant      string `json:"tenant,omitempty"`
}

// Deployment is a logical cluster of the site, in order: the first is
// ordinal 0 (VLANs 800/801), the next 1 (810/811).
type Deployment struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// Rack is a rack of the site.
type Rack struct {
	ID          string `json:"id"`
	DisplayName string `json:"display-name,omitempty"`
	UHeight     int    `json:"u-height,omitempty"` // 0: 42
}

// DeviceType defines a model of device (and its manufacturer) when the
// inventory does not have it yet.
type DeviceType struct {
	ID           string      `json:"id"`
	Manufacturer string      `json:"manufacturer"`
	Model        string      `json:"model"`
	UHeight      *int        `json:"u-height,omitempty"`   // nil: 1
	FullDepth    *bool       `json:"full-depth,omitempty"` // nil: true
	Interfaces   []Interface `json:"interfaces"`
}

// Interface is an interface template of a device type.
type Interface struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	MgmtOnly bool   `json:"mgmt-only,omitempty"`
}

// Device is a device to rack: its role decides its addresses.
type Device struct {
	Devname    string `json:"devname"`
	Deployment string `json:"deployment,omitempty"` // "": the first
	Role       string `json:"role"`
	Type       string `json:"type"`
	Rack       string `json:"rack,omitempty"`
	Position   int    `json:"position,omitempty"`
	Face       string `json:"face,omitempty"` // "": front
	Serial     string `json:"serial,omitempty"`
	// MACs maps interface names to MAC addresses.
	MACs map[string]string `json:"macs,omitempty"`
}

// Cable joins two device interfaces, each written
// "<devname>[.<deployment>]:<interface>" (the deployment is needed only
// when two deployments have the devname).
type Cable struct {
	ID         string  `json:"id,omitempty"` // "": derived from side A
	Label      string  `json:"label,omitempty"`
	A          string  `json:"a"`
	B          string  `json:"b"`
	Type       string  `json:"type,omitempty"`
	Length     float64 `json:"length,omitempty"`
	LengthUnit string  `json:"length-unit,omitempty"`
	Color      string  `json:"color,omitempty"`
}

// Problem is one refusal or departure: the path it concerns and why.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Decode reads a spec from JSON, refusing unknown fields and values of the
// wrong type with the path of the field.
func Decode(raw []byte) (*Spec, []Problem) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, []Problem{{Path: "/" + strings.ReplaceAll(te.Field, ".", "/"), Reason: fmt.Sprintf("%s is not a %s", te.Value, te.Type)}}
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return nil, []Problem{{Path: "/", Reason: "unknown field " + f + " (docs/provisioning.md lists the spec's fields)"}}
		}
		return nil, []Problem{{Path: "/", Reason: msg}}
	}
	return &s, nil
}
