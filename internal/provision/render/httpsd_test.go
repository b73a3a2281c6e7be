package render

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// TestHTTPSD: the three target lists parse as Prometheus' http_sd JSON
// (a list of {targets, labels}) and hold exactly the site's active devices
// with a primary address: every server's node exporter at :9100, every
// switch's and every radio's bare address, each labelled with its site,
// deployment, role, device and FQDN.
func TestHTTPSD(t *testing.T) {
	inv, site := loadBootSite(t)
	arts := renderKind(t, promKind, inv, site)
	want := map[string][]targetGroup{"prometheus/node.json": {}, "prometheus/snmp.json": {}, "prometheus/blackbox.json": {}}
	for _, d := range site.Devices {
		if d.Status != "active" || d.PrimaryIP == "" {
			continue
		}
		file, target := "", d.PrimaryIP
		switch d.Role {
		case "management-server", "compute-server":
			file, target = "prometheus/node.json", d.PrimaryIP+":9100"
		case "management-switch", "fabric-switch":
			file = "prometheus/snmp.json"
		case "radio":
			file = "prometheus/blackbox.json"
		default:
			continue
		}
		labels := map[string]string{"site": site.ID, "role": d.Role, "device": d.ID,
			"instance": d.Devname + "." + d.Deployment + "." + site.ID + "." + site.Domain}
		if d.Deployment != "" {
			labels["deployment"] = d.Deployment
		}
		want[file] = append(want[file], targetGroup{Targets: []string{target}, Labels: labels})
	}
	if len(arts) != len(want) {
		t.Errorf("artifacts %v, want %d", inventory.Sorted(arts), len(want))
	}
	for file, groups := range want {
		var got []targetGroup
		dec := json.NewDecoder(bytes.NewReader(arts[file]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		byTarget := func(l []targetGroup) {
			sort.Slice(l, func(i, j int) bool { return l[i].Targets[0] < l[j].Targets[0] })
		}
		byTarget(got)
		byTarget(groups)
		if !reflect.DeepEqual(got, groups) {
			t.Errorf("%s:\n got %+v\nwant %+v", file, got, groups)
		}
	}
	if len(want["prometheus/node.json"]) < 3 || len(want["prometheus/snmp.json"]) < 2 || len(want["prometheus/blackbox.json"]) != 1 {
		t.Errorf("the boot site lacks targets of some kind: %v", want)
	}
}
