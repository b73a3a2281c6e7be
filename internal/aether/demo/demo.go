// Package demo holds the data set `amp serve --demo` loads into an empty
// store: two enterprises, each with two sites full of SIMs, devices, device
// groups, IP domains, UPFs, small cells and slices, plus applications,
// templates and traffic classes, so a newcomer sees a working system. It
// writes through the config engine like any client does.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

type enterprise struct {
	id, name string
	ent      int
	sites    []siteSpec
}

type siteSpec struct {
	id, name, mcc, mnc string
	subnet             string
}

var enterprises = []enterprise{
	{"acme", "ACME Robotics", 1, []siteSpec{
		{"acme-chicago", "Chicago plant", "315", "010", "10.250.0.0/24"},
		{"acme-dallas", "Dallas warehouse", "315", "010", "10.251.0.0/24"},
	}},
	{"starbucks", "Starbucks", 2, []siteSpec{
		{"starbucks-seattle", "Seattle HQ", "315", "010", "10.252.0.0/24"},
		{"starbucks-newyork", "New York store", "315", "010", "10.253.0.0/24"},
	}},
}

// Body returns the demo data for one enterprise as one JSON tree of the
// aether 2.1.x root, in the plain encoding the REST API uses. Its sites'
// core and UPF endpoints are the demo backends, or unset without them.
// Slices set connectivity-service, their device groups' enable and their
// filters' allow, as Aether's own example data does (aether-roc-api
// examples/MEGA_Patch_21.curl), so Aether's GUI shows them as in use.
func Body(e enterprise, b *Backends) map[string]any {
	apps := []any{
		map[string]any{"application-id": e.id + "-telemetry", "display-name": "Telemetry", "address": "10.100.0.10/32",
			"endpoint": []any{map[string]any{"endpoint-id": "mqtt", "port-start": 1883, "protocol": "TCP", "traffic-class": "class-2",
				"mbr": map[string]any{"uplink": 2000000, "downlink": 1000000}}}},
		map[string]any{"application-id": e.id + "-video", "display-name": "Video analytics", "address": "10.100.0.20/32",
			"endpoint": []any{map[string]any{"endpoint-id": "rtsp", "port-start": 8554, "port-end": 8560, "protocol": "UDP", "traffic-class": "class-1",
				"mbr": map[string]any{"uplink": 10000000, "downlink": 2000000}}}},
	}
	tcs := []any{
		map[string]any{"traffic-class-id": "class-1", "display-name": "Real time", "qci": 3, "arp": 1, "pdb": 50, "pelr": 3},
		map[string]any{"traffic-class-id": "class-2", "display-name": "Interactive", "qci": 7, "arp": 5, "pdb": 100, "pelr": 3},
		map[string]any{"traffic-class-id": "class-3", "display-name": "Best effort", "qci": 9, "arp": 9, "pdb": 300, "pelr": 6},
	}
	templates := []any{
		map[string]any{"template-id": "template-video", "display-name": "Video", "sst": "1", "sd": "010203", "default-behavior": "DENY-ALL",
			"mbr": map[string]any{"uplink": 50000000, "downlink": 10000000}},
		map[string]any{"template-id": "template-iot", "display-name": "IoT", "sst": "2", "sd": "0A0B0C", "default-behavior": "ALLOW-PUBLIC",
			"mbr": map[string]any{"uplink": 5000000, "downlink": 5000000}},
	}
	var sites []any
	for si, s := range e.sites {
		var sims, devices, cams, sensors []any
		for i := 1; i <= 8; i++ {
			imsi := fmt.Sprintf("%s%s%03d%06d", s.mcc, s.mnc, e.ent, si*1000+i)
			sims = append(sims, map[string]any{"sim-id": fmt.Sprintf("sim-%d", i), "imsi": imsi,
				"iccid": fmt.Sprintf("89%03d%02d%011dF", e.ent, si, i), "display-name": fmt.Sprintf("SIM %d", i)})
			kind, title := "camera", "Camera"
			if i > 4 {
				kind, title = "sensor", "Sensor"
			}
			dev := fmt.Sprintf("%s-%d", kind, i)
			devices = append(devices, map[string]any{"device-id": dev, "display-name": fmt.Sprintf("%s %d", title, i),
				"imei": fmt.Sprintf("35%02d%02d%010d", e.ent, si, i), "sim-card": fmt.Sprintf("sim-%d", i)})
			entry := map[string]any{"device-id": dev, "enable": i != 4}
			if kind == "camera" {
				cams = append(cams, entry)
			} else {
				sensors = append(sensors, entry)
			}
		}
		core5g := map[string]any{"acc-prometheus-url": "http://prometheus-" + s.id + ".local:9090"}
		var upfList []any
		for i, u := range upfs {
			upf := map[string]any{"upf-id": u, "address": fmt.Sprintf("upf%d.%s.local", i+1, s.id), "port": 8805}
			if b != nil {
				upf["config-endpoint"] = b.UPF(s.id, u)
			}
			upfList = append(upfList, upf)
		}
		if b != nil {
			core5g["endpoint"] = b.Core(s.id)
		}
		sites = append(sites, map[string]any{
			"site-id": s.id, "display-name": s.name,
			"imsi-definition":      map[string]any{"mcc": s.mcc, "mnc": s.mnc, "enterprise": e.ent, "format": "CCCNNNEEESSSSSS"},
			"connectivity-service": map[string]any{"core-5g": core5g},
			"monitoring": map[string]any{"edge-cluster-prometheus-url": "http://prometheus-" + s.id + ".local:9090",
				"edge-device": []any{map[string]any{"edge-device-id": "pi-1", "display-name": "Lobby probe"}}},
			"small-cell": []any{
				// Host names that are also valid gNodeB names for webconsole
				// (^[a-zA-Z][a-zA-Z0-9-_]{1,255}$, configapi/validators.go).
				map[string]any{"small-cell-id": "cell-1", "address": "gnb1-" + s.id, "tac": "0001", "display-name": "Cell 1", "enable": true},
				map[string]any{"small-cell-id": "cell-2", "address": "gnb2-" + s.id, "tac": "0002", "enable": false},
			},
			"sim-card": sims,
			"device":   devices,
			"upf":      upfList,
			"ip-domain": []any{map[string]any{"ip-domain-id": "pool-1", "display-name": "Device pool", "dnn": "internet", "subnet": s.subnet,
				"dns-primary": "8.8.8.8", "dns-secondary": "8.8.4.4", "mtu": 1460}},
			"device-group": []any{
				map[string]any{"device-group-id": "cameras", "display-name": "Cameras", "device": cams, "ip-domain": "pool-1", "traffic-class": "class-1",
					"mbr": map[string]any{"uplink": 20000000, "downlink": 1000000}},
				map[string]any{"device-group-id": "sensors", "display-name": "Sensors", "device": sensors, "ip-domain": "pool-1", "traffic-class": "class-2",
					"mbr": map[string]any{"uplink": 1000000, "downlink": 1000000}},
			},
			"slice": []any{
				map[string]any{"slice-id": "video", "display-name": "Video", "sst": "1", "sd": fmt.Sprintf("%06X", 0x010200+si), "default-behavior": "DENY-ALL", "upf": "upf-1",
					"connectivity-service": "5g",
					"device-group":         []any{map[string]any{"device-group": "cameras", "enable": true}},
					"filter":               []any{map[string]any{"application": e.id + "-video", "priority": 10, "allow": true}},
					"mbr":                  map[string]any{"uplink": 50000000, "downlink": 10000000}},
				map[string]any{"slice-id": "iot", "display-name": "IoT", "sst": "2", "sd": fmt.Sprintf("%06X", 0x0A0B00+si), "default-behavior": "ALLOW-PUBLIC", "upf": "upf-2",
					"connectivity-service": "5g",
					"device-group":         []any{map[string]any{"device-group": "sensors", "enable": true}},
					"filter":               []any{map[string]any{"application": e.id + "-telemetry", "priority": 20, "allow": true}},
					"priority-traffic-rule": []any{map[string]any{"priority-traffic-rule-id": "sensor-5-mqtt", "device": "sensor-5",
						"application": e.id + "-telemetry", "endpoint": "mqtt", "mbr": map[string]any{"uplink": 4000000, "downlink": 1000000}}}},
			},
		})
	}
	return map[string]any{"application": apps, "traffic-class": tcs, "template": templates, "site": sites}
}

// Load writes the demo data set: one transaction creating the enterprises,
// then one per enterprise. It returns the number of transactions. With
// backends (nil: none), the sites' endpoints point at them; the engine must
// accept them (amp serve grants them to their enterprises first).
func Load(ctx context.Context, eng *config.Engine, backends *Backends) (int, error) {
	set := eng.Schema().Set("aether", "2.1.x")
	if set == nil {
		return 0, fmt.Errorf("the demo needs the aether 2.1.x models")
	}
	var targets []config.TargetEdit
	for _, e := range enterprises {
		targets = append(targets, config.TargetEdit{Op: config.OpCreate, Name: e.id, DisplayName: e.name})
	}
	if _, err := eng.Submit(ctx, &config.Request{Targets: targets, Principal: "demo", Source: "api", Message: "demo enterprises"}); err != nil {
		return 0, err
	}
	n := 1
	for _, e := range enterprises {
		if err := Apply(ctx, eng, e.id, Body(e, backends), "demo data for "+e.id); err != nil {
			return n, fmt.Errorf("enterprise %s: %w", e.id, err)
		}
		n++
	}
	return n, nil
}

// Apply merges a root body (plain JSON encoding, as Body and ScaleSite
// return) into an existing enterprise as one transaction, decoded exactly as
// a REST body would be.
func Apply(ctx context.Context, eng *config.Engine, enterprise string, body map[string]any, msg string) error {
	set := eng.Schema().Set("aether", "2.1.x")
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	loc, err := schema.Resolve(set, enterprise, nil)
	if err != nil {
		return err
	}
	val, err := schema.DecodeJSON(set.Root, v, loc.REST(), true, schema.DecodeOptions{})
	if err != nil {
		return err
	}
	_, err = eng.Submit(ctx, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}},
		Principal: "demo", Source: "api", Message: msg})
	return err
}
