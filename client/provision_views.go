package client

import (
	"context"
	"net/http"
	"net/url"
)

// ProvisionCable is a cable as the provision layer's cable report and
// trace show it (docs/provisioning.md).
type ProvisionCable struct {
	ID     string `json:"cable-id"`
	Label  string `json:"label"`
	Status string `json:"status"`
	Type   string `json:"type"`
	// Length is a decimal ("2", "0.75"), "" when unknown.
	Length     string `json:"length,omitempty"`
	LengthUnit string `json:"length-unit,omitempty"`
	Color      string `json:"color,omitempty"`
}

// CableRow is one row of a site's cable report (the book's Figure 5.4).
type CableRow struct {
	ProvisionCable
	SideA        string `json:"side-a"` // <devname>.<deployment>.<site>
	DeviceA      string `json:"device-a"`
	TerminationA string `json:"termination-a"`
	SideB        string `json:"side-b"`
	DeviceB      string `json:"device-b"`
	TerminationB string `json:"termination-b"`
}

// CableEnd is one device interface of a trace.
type CableEnd struct {
	Device    string `json:"device"`
	Name      string `json:"name"`
	Interface string `json:"interface"`
}

// CableHop is one cable of a trace.
type CableHop struct {
	Near  CableEnd       `json:"near"`
	Cable ProvisionCable `json:"cable"`
	Far   CableEnd       `json:"far"`
}

// CableTrace is the cable path from one interface.
type CableTrace struct {
	Origin CableEnd   `json:"origin"`
	Via    []string   `json:"via"`
	Hops   []CableHop `json:"hops"`
}

func provisionPath(site string, rest ...string) string {
	p := "/provision/" + url.PathEscape(site)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// RackElevation draws one face ("front" or "rear"; "" is the front) of a
// rack as SVG.
func (c *Client) RackElevation(ctx context.Context, site, rack, face string) ([]byte, error) {
	q := url.Values{}
	if face != "" {
		q.Set("face", face)
	}
	b, _, err := c.Do(ctx, http.MethodGet, provisionPath(site, "racks", rack, "elevation.svg"), q, nil, "")
	return b, err
}

// Cables reads a site's cable report.
func (c *Client) Cables(ctx context.Context, site string) ([]CableRow, error) {
	var rows []CableRow
	err := c.getJSON(ctx, provisionPath(site, "cables"), nil, &rows)
	return rows, err
}

// CablesCSV reads a site's cable report as CSV, as the server writes it.
func (c *Client) CablesCSV(ctx context.Context, site string) ([]byte, error) {
	b, _, err := c.Do(ctx, http.MethodGet, provisionPath(site, "cables"), url.Values{"format": {"csv"}}, nil, "")
	return b, err
}

// TraceCable traces the cable path from a device's interface.
func (c *Client) TraceCable(ctx context.Context, site, device, iface string) (*CableTrace, error) {
	var t CableTrace
	if err := c.getJSON(ctx, provisionPath(site, "devices", device, "interfaces", iface, "trace"), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
