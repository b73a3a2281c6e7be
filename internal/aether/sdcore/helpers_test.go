package sdcore

import (
	"context"
	"encoding/json"
	"github.com/amp-edge/amp/internal/testenv"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/schema"
)

type testEnv struct {
	eng *config.Engine
	set *schema.ModelSet
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	return &testEnv{eng: eng, set: eng.Schema().Set("aether", "2.1.x")}
}

func demoEnv(t testing.TB) *testEnv {
	t.Helper()
	eng, _ := testenv.Engine(t, true)
	return &testEnv{eng: eng, set: eng.Schema().Set("aether", "2.1.x")}
}

// edit builds an edit from a REST-style path ("acme/site/s1") and a JSON
// body.
func (env *testEnv) edit(t testing.TB, op config.Op, path, body string) config.Edit {
	t.Helper()
	segs := schema.SplitPath(path)
	loc, err := schema.Resolve(env.set, segs[0], segs[1:])
	if err != nil {
		t.Fatal(err)
	}
	ed := config.Edit{Op: op, Loc: loc}
	if body != "" {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), !loc.Collection, schema.DecodeOptions{OmitKeysOK: true})
		if err != nil {
			t.Fatal(err)
		}
		ed.Value = val
	}
	return ed
}

func (env *testEnv) submit(t testing.TB, targets []string, edits ...config.Edit) {
	t.Helper()
	var tes []config.TargetEdit
	for _, n := range targets {
		tes = append(tes, config.TargetEdit{Op: config.OpCreate, Name: n})
	}
	if _, err := env.eng.Submit(context.Background(), &config.Request{Targets: tes, Edits: edits, Principal: "test"}); err != nil {
		t.Fatal(err)
	}
}

// The small test enterprise: one site s1 with a 5G core, two slices, DGs
// covering the SIM edge cases.
const testCore = "http://core.s1:5000/config"

const enterpriseBase = `{
 "traffic-class":[{"traffic-class-id":"tc-full","qci":7,"arp":2,"pdb":100,"pelr":3},{"traffic-class-id":"tc-qci","qci":5}],
 "application":[
  {"application-id":"app-a","address":"10.9.0.0/16","endpoint":[
    {"endpoint-id":"http","port-start":80,"traffic-class":"tc-full","mbr":{"uplink":1000,"downlink":2000}},
    {"endpoint-id":"dns","port-start":53,"port-end":54,"protocol":"UDP"}]},
  {"application-id":"app-b","address":"10.8.1.1/32","endpoint":[{"endpoint-id":"x","port-start":9000,"protocol":"UDP","traffic-class":"tc-qci"}]}]
}`

const siteS1 = `{"site-id":"s1",
 "imsi-definition":{"mcc":"001","mnc":"01","enterprise":1,"format":"CCCNNNEEESSSSSS"},
 "connectivity-service":{"core-5g":{"endpoint":"` + testCore + `"}},
 "small-cell":[{"small-cell-id":"c1","address":"gnb1","tac":"00FF"},{"small-cell-id":"c2","address":"gnb2","tac":"A"},{"small-cell-id":"c3","address":"gnb3","tac":"1","enable":false}],
 "sim-card":[{"sim-id":"sim1","imsi":"001010000000001"},{"sim-id":"sim2","imsi":"001010000000002"},{"sim-id":"sim3"},{"sim-id":"sim4","imsi":"001010000000004","enable":false}],
 "device":[{"device-id":"d1","sim-card":"sim1"},{"device-id":"d2","sim-card":"sim2"},{"device-id":"d3","sim-card":"sim3"},{"device-id":"d4","sim-card":"sim4"},{"device-id":"d5"}],
 "upf":[{"upf-id":"u1","address":"upf1.local","port":8805,"config-endpoint":"http://upf1:8080"},{"upf-id":"u2","address":"upf2.local","port":8806}],
 "ip-domain":[{"ip-domain-id":"ip1","dnn":"internet","subnet":"10.250.0.0/24"},{"ip-domain-id":"ip2","dnn":"iot","subnet":"10.251.0.0/24","dns-primary":"1.1.1.1","dns-secondary":"8.8.8.8","mtu":1400}],
 "device-group":[
  {"device-group-id":"dg-ok","device":[{"device-id":"d1"},{"device-id":"d2","enable":false},{"device-id":"d5"}],"ip-domain":"ip1","traffic-class":"tc-qci","mbr":{"uplink":1000000,"downlink":2000000}},
  {"device-group-id":"dg-empty","ip-domain":"ip2","traffic-class":"tc-full","mbr":{"uplink":1,"downlink":2}},
  {"device-group-id":"dg-noimsi","device":[{"device-id":"d3"}],"ip-domain":"ip1","traffic-class":"tc-full","mbr":{"uplink":1,"downlink":2}},
  {"device-group-id":"dg-simoff","device":[{"device-id":"d4"}],"ip-domain":"ip1","traffic-class":"tc-full","mbr":{"uplink":1,"downlink":2}},
  {"device-group-id":"dg-unused","device":[{"device-id":"d1"}],"ip-domain":"ip1","traffic-class":"tc-full","mbr":{"uplink":1,"downlink":2}}],
 "slice":[
  {"slice-id":"sl1","sst":"1","sd":"00A1B2","default-behavior":"DENY-ALL","upf":"u1",
   "device-group":[{"device-group":"dg-ok"},{"device-group":"dg-empty","enable":false}],
   "filter":[{"application":"app-a","priority":5},{"application":"app-b","allow":false}],
   "mbr":{"uplink":5000000,"downlink":6000000,"uplink-burst-size":1000}},
  {"slice-id":"sl2","sst":"FF","sd":"1","default-behavior":"ALLOW-PUBLIC","upf":"u2",
   "device-group":[{"device-group":"dg-noimsi"},{"device-group":"dg-simoff"}]}]
}`

func smallEnv(t testing.TB) *testEnv {
	env := newEnv(t)
	env.submit(t, []string{"acme"},
		env.edit(t, config.OpMerge, "acme", enterpriseBase),
		env.edit(t, config.OpMerge, "acme/site/s1", siteS1))
	return env
}

func id(kind, backend, ent, site, name string) string { return makeID(kind, backend, ent, site, name) }

func mustDesired(t *testing.T, out map[string]controller.Desired, id string) controller.Desired {
	t.Helper()
	d, ok := out[id]
	if !ok {
		var ids []string
		for k := range out {
			ids = append(ids, k)
		}
		t.Fatalf("no %s rendered; have %v", id, ids)
	}
	return d
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}
