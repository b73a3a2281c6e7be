package demo

import "fmt"

// ScaleSite returns an aether 2.1.x root body (plain JSON encoding) with one
// site of the given size, for benchmarks and load tests: devices (each with
// a SIM), spread evenly over groups device groups, which are spread evenly
// over slices slices (slices must divide groups), plus one application,
// traffic class and UPF. core is the site's 5G core endpoint and upfConfig
// the UPF's config endpoint ("" for none).
func ScaleSite(site, core, upfConfig string, devices, groups, slices int) map[string]any {
	var sims, devs []any
	for i := 0; i < devices; i++ {
		id := fmt.Sprintf("d%d", i)
		sims = append(sims, map[string]any{"sim-id": id, "imsi": fmt.Sprintf("315010%09d", i), "iccid": fmt.Sprintf("89%016dF", i)})
		devs = append(devs, map[string]any{"device-id": id, "imei": fmt.Sprintf("%015d", i), "sim-card": id})
	}
	var dgs []any
	per := devices / groups
	for g := 0; g < groups; g++ {
		var members []any
		for i := g * per; i < (g+1)*per && i < devices; i++ {
			members = append(members, map[string]any{"device-id": fmt.Sprintf("d%d", i)})
		}
		dgs = append(dgs, map[string]any{"device-group-id": fmt.Sprintf("dg%d", g), "device": members, "ip-domain": "pool",
			"traffic-class": "tc", "mbr": map[string]any{"uplink": 1000000, "downlink": 2000000}})
	}
	var sls []any
	gper := groups / slices
	for s := 0; s < slices; s++ {
		var members []any
		for g := s * gper; g < (s+1)*gper; g++ {
			members = append(members, map[string]any{"device-group": fmt.Sprintf("dg%d", g)})
		}
		sls = append(sls, map[string]any{"slice-id": fmt.Sprintf("slice%d", s), "sst": "1", "sd": fmt.Sprintf("%06X", s+1),
			"default-behavior": "DENY-ALL", "upf": "upf", "device-group": members,
			"filter": []any{map[string]any{"application": "app"}},
			"mbr":    map[string]any{"uplink": 100000000, "downlink": 200000000}})
	}
	upf := map[string]any{"upf-id": "upf", "address": "upf.local", "port": 8805}
	if upfConfig != "" {
		upf["config-endpoint"] = upfConfig
	}
	return map[string]any{
		"traffic-class": []any{map[string]any{"traffic-class-id": "tc", "qci": 9, "arp": 9}},
		"application": []any{map[string]any{"application-id": "app", "address": "10.0.0.1/32",
			"endpoint": []any{map[string]any{"endpoint-id": "http", "port-start": 80}}}},
		"site": []any{map[string]any{
			"site-id":              site,
			"imsi-definition":      map[string]any{"mcc": "315", "mnc": "010", "enterprise": 1, "format": "CCCNNNEEESSSSSS"},
			"connectivity-service": map[string]any{"core-5g": map[string]any{"endpoint": core}},
			"small-cell":           []any{map[string]any{"small-cell-id": "cell", "address": "gnb.local", "tac": "0001"}},
			"sim-card":             sims,
			"device":               devs,
			"upf":                  []any{upf},
			"ip-domain":            []any{map[string]any{"ip-domain-id": "pool", "dnn": "internet", "subnet": "10.128.0.0/16"}},
			"device-group":         dgs,
			"slice":                sls,
		}},
	}
}
