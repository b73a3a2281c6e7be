package sdcore

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden renders the map as stable, readable JSON: ids in order, bodies
// as JSON.
func golden(out map[string]controller.Desired) []byte {
	ids := make([]string, 0, len(out))
	for id := range out {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	type entry struct {
		ID       string          `json:"id"`
		Backend  string          `json:"backend"`
		Sources  []string        `json:"sources"`
		Err      string          `json:"err,omitempty"`
		Degraded string          `json:"degraded,omitempty"`
		Body     json.RawMessage `json:"body,omitempty"`
	}
	var es []entry
	for _, id := range ids {
		d := out[id]
		es = append(es, entry{ID: id, Backend: d.Backend, Sources: d.Sources, Err: d.Err, Degraded: d.Degraded, Body: d.Body})
	}
	b, _ := json.MarshalIndent(es, "", "  ")
	return append(b, '\n')
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the render (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestDemoGolden(t *testing.T) {
	env := demoEnv(t)
	snap := env.eng.Snapshot()
	for _, tc := range []struct {
		file string
		opts Options
	}{
		{"demo-ip-domains.golden.json", Options{}},
		{"demo-legacy.golden.json", Options{LegacyIPDomain: true}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := New(tc.opts).Render(snap)
			// 2 enterprises x 2 sites x (2 DGs + 2 slices + 2 UPFs, one
			// per slice, so that each slice's QoS is enforced).
			if len(out) != 24 {
				t.Errorf("rendered %d objects, want 24", len(out))
			}
			for id, d := range out {
				if d.Err != "" {
					t.Errorf("%s: %s", id, d.Err)
				}
			}
			// Deterministic: a second render is byte-equal.
			again := New(tc.opts).Render(snap)
			for id, d := range out {
				if !bytes.Equal(d.Body, again[id].Body) {
					t.Errorf("%s: render is not deterministic", id)
				}
			}
			checkGolden(t, tc.file, golden(out))
		})
	}
}

func TestIPDomainFormPerCore(t *testing.T) {
	env := smallEnv(t)
	snap := env.eng.Snapshot()
	dgID := id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok")
	for _, tc := range []struct {
		name string
		opts Options
		list bool
	}{
		{"default list", Options{}, true},
		{"global legacy", Options{LegacyIPDomain: true}, false},
		{"per core legacy", Options{LegacyIPDomainCores: map[string]bool{testCore: true}}, false},
		{"per core overrides global", Options{LegacyIPDomain: true, LegacyIPDomainCores: map[string]bool{testCore: false}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := decode(t, mustDesired(t, New(tc.opts).Render(snap), dgID).Body)
			_, hasList := body["ip-domains"]
			_, hasLegacy := body["ip-domain-expanded"]
			if hasList != tc.list || hasLegacy == tc.list {
				t.Errorf("body %v: want list form %v", body, tc.list)
			}
		})
	}
}

func TestDeviceGroupPayload(t *testing.T) {
	env := smallEnv(t)
	out := New(Options{}).Render(env.eng.Snapshot())
	d := mustDesired(t, out, id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok"))
	if d.Backend != testCore || d.Err != "" {
		t.Fatalf("backend %q err %q", d.Backend, d.Err)
	}
	// d2's link is disabled; d5 has no SIM: only d1's IMSI. tc-qci has only
	// qci set: the rest are Aether's defaults (pdb 300, pelr 6, arp 9).
	want := `{"imsis":["001010000000001"],"ip-domain-name":"ip1","site-info":"s1","ip-domains":[{"dnn":"internet","ue-ip-pool":"10.250.0.0/24","dns-primary":"","mtu":1492,"ue-dnn-qos":{"dnn-mbr-uplink":1000000,"dnn-mbr-downlink":2000000,"bitrate-unit":"bps","traffic-class":{"name":"tc-qci","qci":5,"arp":9,"pdb":300,"pelr":6}}}]}`
	if string(d.Body) != want {
		t.Errorf("body\n got %s\nwant %s", d.Body, want)
	}
	for _, src := range []string{"aether/2.1.x/acme/site/s1/device-group/dg-ok", "aether/2.1.x/acme/site/s1/device/d1", "aether/2.1.x/acme/site/s1/sim-card/sim1",
		"aether/2.1.x/acme/site/s1/ip-domain/ip1", "aether/2.1.x/acme/traffic-class/tc-qci", "aether/2.1.x/acme/site/s1/slice/sl1"} {
		if !contains(d.Sources, src) {
			t.Errorf("sources %v lack %s", d.Sources, src)
		}
	}
	if d.Sources[0] != "aether/2.1.x/acme/site/s1/device-group/dg-ok" {
		t.Errorf("primary source %s", d.Sources[0])
	}
	// dg-empty is in sl1 though disabled there: it is sent, with imsis [].
	e := mustDesired(t, out, id(kindDeviceGroup, testCore, "acme", "s1", "dg-empty"))
	want = `{"imsis":[],"ip-domain-name":"ip2","site-info":"s1","ip-domains":[{"dnn":"iot","ue-ip-pool":"10.251.0.0/24","dns-primary":"1.1.1.1","dns-secondary":"8.8.8.8","mtu":1400,"ue-dnn-qos":{"dnn-mbr-uplink":1,"dnn-mbr-downlink":2,"bitrate-unit":"bps","traffic-class":{"name":"tc-full","qci":7,"arp":2,"pdb":100,"pelr":3}}}]}`
	if string(e.Body) != want {
		t.Errorf("body\n got %s\nwant %s", e.Body, want)
	}
	// A device group in no slice is not rendered.
	for k := range out {
		if strings.Contains(k, "dg-unused") {
			t.Errorf("%s rendered, but dg-unused is in no slice", k)
		}
	}
}

func TestSIMErrorsArePerObject(t *testing.T) {
	env := smallEnv(t)
	out := New(Options{}).Render(env.eng.Snapshot())
	noIMSI := mustDesired(t, out, id(kindDeviceGroup, testCore, "acme", "s1", "dg-noimsi"))
	if noIMSI.Body != nil || !strings.Contains(noIMSI.Err, "SIM card /aether/v2.1.x/acme/site/s1/sim-card/sim3 of device /aether/v2.1.x/acme/site/s1/device/d3 has no IMSI") ||
		!strings.HasPrefix(noIMSI.Err, "device group /aether/v2.1.x/acme/site/s1/device-group/dg-noimsi: ") {
		t.Errorf("dg-noimsi: %q", noIMSI.Err)
	}
	simOff := mustDesired(t, out, id(kindDeviceGroup, testCore, "acme", "s1", "dg-simoff"))
	if simOff.Body != nil || !strings.Contains(simOff.Err, "device /aether/v2.1.x/acme/site/s1/device/d4 uses SIM card /aether/v2.1.x/acme/site/s1/sim-card/sim4, which is disabled") {
		t.Errorf("dg-simoff: %q", simOff.Err)
	}
	if simOff.Backend != testCore {
		t.Errorf("an errored object keeps its backend, got %q", simOff.Backend)
	}
	// The other objects still render, including the slice naming the bad
	// device groups.
	for _, k := range []string{
		id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok"),
		id(kindNetworkSlice, testCore, "acme", "s1", "sl1"),
		id(kindNetworkSlice, testCore, "acme", "s1", "sl2"),
		id(kindUPF, "http://upf1:8080", "acme", "s1", "u1"),
	} {
		if d := mustDesired(t, out, k); d.Err != "" || d.Body == nil {
			t.Errorf("%s: err %q", k, d.Err)
		}
	}
}

type ruleView struct {
	Name     string `json:"rule-name"`
	Priority int    `json:"priority"`
	Action   string `json:"action"`
	Endpoint string `json:"endpoint"`
}

func rules(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var s struct {
		Rules []map[string]any `json:"application-filtering-rules"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s.Rules
}

func TestSlicePayload(t *testing.T) {
	env := smallEnv(t)
	out := New(Options{}).Render(env.eng.Snapshot())
	d := mustDesired(t, out, id(kindNetworkSlice, testCore, "acme", "s1", "sl1"))
	if d.Err != "" {
		t.Fatal(d.Err)
	}
	want := `{"slice-id":{"sst":"1","sd":"00a1b2"},"site-device-group":["dg-ok"],` +
		`"site-info":{"site-name":"s1","plmn":{"mcc":"001","mnc":"01"},"gNodeBs":[{"name":"gnb1","tac":255},{"name":"gnb2","tac":10}],"upf":{"upf-name":"upf1.local","upf-port":8805}},` +
		`"application-filtering-rules":[` +
		`{"rule-name":"app-a-dns","priority":5,"action":"permit","endpoint":"10.9.0.0/16","dest-port-start":53,"dest-port-end":54,"protocol":17,"traffic-class":{"name":"","qci":9,"arp":6,"pdb":0,"pelr":0}},` +
		`{"rule-name":"app-a-http","priority":5,"action":"permit","endpoint":"10.9.0.0/16","dest-port-start":80,"dest-port-end":80,"protocol":6,"app-mbr-uplink":1000,"app-mbr-downlink":2000,"bitrate-unit":"bps","traffic-class":{"name":"tc-full","qci":7,"arp":2,"pdb":100,"pelr":3}},` +
		`{"rule-name":"app-b-x","priority":0,"action":"deny","endpoint":"10.8.1.1/32","dest-port-start":9000,"dest-port-end":9000,"protocol":17,"traffic-class":{"name":"tc-qci","qci":5,"arp":9,"pdb":300,"pelr":6}},` +
		`{"rule-name":"DENY-ALL","priority":250,"action":"deny","endpoint":"0.0.0.0/0","traffic-class":{"name":"","qci":9,"arp":6,"pdb":0,"pelr":0}}]}`
	if string(d.Body) != want {
		t.Errorf("body\n got %s\nwant %s", d.Body, want)
	}
	// sst is hex in the model and decimal for webconsole: FF -> 255; sd
	// goes as six hex digits ("1" would key the S-NSSAI as "ff1").
	d2 := mustDesired(t, out, id(kindNetworkSlice, testCore, "acme", "s1", "sl2"))
	if !strings.Contains(string(d2.Body), `"slice-id":{"sst":"255","sd":"000001"}`) ||
		!strings.Contains(string(d2.Body), `"site-device-group":["dg-noimsi","dg-simoff"]`) {
		t.Errorf("sl2: %s", d2.Body)
	}
}

func TestDefaultBehaviorRules(t *testing.T) {
	cases := map[string][]ruleView{
		"DENY-ALL":  {{"DENY-ALL", 250, "deny", "0.0.0.0/0"}},
		"ALLOW-ALL": {{"ALLOW-ALL", 250, "permit", "0.0.0.0/0"}},
		"ALLOW-PUBLIC": {
			{"DENY-CLASS-A", 250, "deny", "10.0.0.0/8"},
			{"DENY-CLASS-B", 251, "deny", "172.16.0.0/12"},
			{"DENY-CLASS-C", 252, "deny", "192.168.0.0/16"},
			{"ALLOW-ALL", 253, "permit", "0.0.0.0/0"},
		},
	}
	env := smallEnv(t)
	for behavior, want := range cases {
		t.Run(behavior, func(t *testing.T) {
			env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1/slice/sl1", `{"default-behavior":"`+behavior+`"}`))
			d := mustDesired(t, New(Options{}).Render(env.eng.Snapshot()), id(kindNetworkSlice, testCore, "acme", "s1", "sl1"))
			rs := rules(t, d.Body)
			if len(rs) != 3+len(want) {
				t.Fatalf("%d rules, want 3 filter rules + %d: %s", len(rs), len(want), d.Body)
			}
			for i, w := range want {
				r := rs[3+i]
				got := ruleView{Name: r["rule-name"].(string), Priority: int(r["priority"].(float64)), Action: r["action"].(string), Endpoint: r["endpoint"].(string)}
				if got != w {
					t.Errorf("rule %d = %+v, want %+v", 3+i, got, w)
				}
				if _, ok := r["dest-port-start"]; ok {
					t.Errorf("default rule %s has ports", w.Name)
				}
				tc, _ := r["traffic-class"].(map[string]any)
				if tc["arp"] != 6.0 || tc["qci"] != 9.0 {
					t.Errorf("default rule %s traffic class %v, want arp 6 qci 9", w.Name, tc)
				}
			}
		})
	}
}

func TestUPFPayload(t *testing.T) {
	env := smallEnv(t)
	out := New(Options{}).Render(env.eng.Snapshot())
	d := mustDesired(t, out, id(kindUPF, "http://upf1:8080", "acme", "s1", "u1"))
	want := `{"sliceName":"sl1","sliceQos":{"uplinkMBR":5000000,"downlinkMBR":6000000,"uplinkBurstSize":1000,"downlinkBurstSize":625000,"bitrateUnit":"bps"},"ueResourceInfo":[{"uePoolId":"dg-ok","dnn":"internet"}]}`
	if string(d.Body) != want || d.Backend != "http://upf1:8080" {
		t.Errorf("body\n got %s\nwant %s", d.Body, want)
	}
	// u2 has no config-endpoint: no UPF object for sl2.
	for k := range out {
		if strings.HasPrefix(k, kindUPF+"/") && strings.HasSuffix(k, "/u2") {
			t.Errorf("%s rendered for a UPF without config-endpoint", k)
		}
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{"10.1.2.3": "10.1.2.3/32", "10.0.0.0/8": "10.0.0.0/8", "2001:db8::1": "2001:db8::1/128"} {
		if got := endpointCIDR(in); got != want {
			t.Errorf("endpointCIDR(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]uint64{"1": 1, "00FF": 255, "a": 10, "7FFF": 32767, "FFFFFF": 16777215} {
		if got, err := parseTAC(in); err != nil || got != want {
			t.Errorf("parseTAC(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "", "G1", "1000000"} {
		if _, err := parseTAC(bad); err == nil {
			t.Errorf("parseTAC(%q) succeeded", bad)
		}
	}
	if p, _ := protocolNumber("TCP"); p != 6 {
		t.Error("TCP != 6")
	}
	if p, _ := protocolNumber("UDP"); p != 17 {
		t.Error("UDP != 17")
	}
	for _, s := range []string{
		makeID(kindDeviceGroup, "http://core:5000/config", "acme", "s1", "dg"),
		makeID(kindUPF, "", "acme", "s1", "sl"),
	} {
		p, err := parseID(s)
		if err != nil || makeID(p.kind, p.backend, p.enterprise, p.site, p.name) != s {
			t.Errorf("id %q does not round-trip: %+v %v", s, p, err)
		}
	}
}

func TestErrorsNameTheObject(t *testing.T) {
	env := smallEnv(t)
	// sl1 asks for a 4G core the site does not have.
	env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1/slice/sl1", `{"connectivity-service":"4g"}`))
	out := New(Options{}).Render(env.eng.Snapshot())
	d := mustDesired(t, out, id(kindNetworkSlice, "", "acme", "s1", "sl1"))
	if !strings.Contains(d.Err, "slice /aether/v2.1.x/acme/site/s1/slice/sl1: site /aether/v2.1.x/acme/site/s1 has no connectivity-service/core-4g/endpoint") {
		t.Errorf("slice error %q", d.Err)
	}
	// dg-ok and dg-empty were only in sl1: reported, not silently dropped.
	g := mustDesired(t, out, id(kindDeviceGroup, "", "acme", "s1", "dg-ok"))
	if !strings.Contains(g.Err, "/aether/v2.1.x/acme/site/s1/device-group/dg-ok: not sent") {
		t.Errorf("dg error %q", g.Err)
	}
	// The UPF configuration does not need the core.
	if u := mustDesired(t, out, id(kindUPF, "http://upf1:8080", "acme", "s1", "u1")); u.Err != "" {
		t.Error(u.Err)
	}
	// Give the site a 4G core: the slice moves there.
	env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1", `{"connectivity-service":{"core-4g":{"endpoint":"http://core4g/config/"}}}`))
	out = New(Options{}).Render(env.eng.Snapshot())
	if d := mustDesired(t, out, id(kindNetworkSlice, "http://core4g/config", "acme", "s1", "sl1")); d.Err != "" {
		t.Error(d.Err)
	}
	// A device group without ip-domain.
	env.submit(t, nil, env.edit(t, config.OpRemove, "acme/site/s1/device-group/dg-ok/ip-domain", ""))
	out = New(Options{}).Render(env.eng.Snapshot())
	g = mustDesired(t, out, id(kindDeviceGroup, "http://core4g/config", "acme", "s1", "dg-ok"))
	if !strings.Contains(g.Err, "device group /aether/v2.1.x/acme/site/s1/device-group/dg-ok: it has no ip-domain") {
		t.Errorf("dg error %q", g.Err)
	}
}

func TestDeleteSliceDropsRender(t *testing.T) {
	env := smallEnv(t)
	a := New(Options{})
	before := a.Render(env.eng.Snapshot())
	env.submit(t, nil, env.edit(t, config.OpDelete, "acme/site/s1/slice/sl1", ""))
	after := a.Render(env.eng.Snapshot())
	for _, k := range []string{
		id(kindNetworkSlice, testCore, "acme", "s1", "sl1"),
		id(kindUPF, "http://upf1:8080", "acme", "s1", "u1"),
		id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok"), // in no slice any more
		id(kindDeviceGroup, testCore, "acme", "s1", "dg-empty"),
	} {
		if _, ok := before[k]; !ok {
			t.Errorf("%s missing before the delete", k)
		}
		if _, ok := after[k]; ok {
			t.Errorf("%s still rendered after the slice was deleted", k)
		}
	}
	if _, ok := after[id(kindNetworkSlice, testCore, "acme", "s1", "sl2")]; !ok {
		t.Error("sl2 lost")
	}
}

func TestNamesCollideOnASharedCore(t *testing.T) {
	env := smallEnv(t)
	// Site s2 of another enterprise uses the same core and names a device
	// group and a slice like s1's.
	otherSite(t, env)
	out := New(Options{}).Render(env.eng.Snapshot())
	for k, otherEnt := range map[string]string{id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok"): "enterprise other",
		id(kindDeviceGroup, testCore, "other", "s2", "dg-ok"): "acme"} {
		d := mustDesired(t, out, k)
		if !strings.Contains(d.Err, "collides on "+testCore) || d.Body != nil {
			t.Errorf("%s: %q", k, d.Err)
		}
		// Each enterprise reads this message: it never names the other.
		if !strings.Contains(d.Err, "another enterprise's") || strings.Contains(d.Err, "site s") || strings.Contains(d.Err, otherEnt) {
			t.Errorf("%s names the other enterprise: %q", k, d.Err)
		}
	}
	if d := mustDesired(t, out, id(kindNetworkSlice, testCore, "other", "s2", "solo")); d.Err != "" {
		t.Error(d.Err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
