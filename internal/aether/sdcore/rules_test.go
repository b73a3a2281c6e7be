package sdcore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

func TestGNodeBName(t *testing.T) {
	for in, want := range map[string]string{
		"ap1":                       "ap1",
		"gnb1.acme-chicago.local":   "gnb1-acme-chicago-local",
		"ap1.seattle.starbucks.com": "ap1-seattle-starbucks-com",
		"10.0.0.7":                  "gnb-10-0-0-7",
		"2001:db8::1":               "gnb-2001-db8--1",
		"a":                         "gnb-a",
		"a.b":                       "a-b",
	} {
		got := gNodeBName(in)
		if got != want {
			t.Errorf("gNodeBName(%q) = %q, want %q", in, got, want)
		}
		if !nameRE.MatchString(got) {
			t.Errorf("gNodeBName(%q) = %q does not match %s", in, got, namePattern)
		}
	}
}

// TestCommitTimeRules: with the adapter's Check registered, a transaction
// SD-Core would refuse is refused at commit, naming the path and the rule;
// nothing is committed.
func TestCommitTimeRules(t *testing.T) {
	env := smallEnv(t)
	a := New(Options{})
	env.eng.AddCheck(a.Check)
	before := env.eng.Snapshot().Index
	for _, tc := range []struct {
		path, body, where, why string
	}{
		{"acme/site/s1/device-group/d", `{"ip-domain":"ip1","traffic-class":"tc-qci","mbr":{"uplink":1,"downlink":1}}`, "/aether/v2.1.x/acme/site/s1/device-group/d/device-group-id", "webconsole requires ^[a-zA-Z][a-zA-Z0-9-_]{1,255}$"},
		{"acme/site/s1/slice/x", `{"sst":"1","sd":"1","default-behavior":"DENY-ALL"}`, "/aether/v2.1.x/acme/site/s1/slice/x/slice-id", "NAME_PATTERN"},
		{"acme/site/s1/device-group/dg-ok", `{"mbr":{"uplink":9223372036854775808}}`, "/aether/v2.1.x/acme/site/s1/device-group/dg-ok/mbr/uplink", "webconsole's dnn-mbr-uplink holds at most 9223372036854775807"},
		{"acme/application/app-a/endpoint/http", `{"mbr":{"downlink":2147483648}}`, "/aether/v2.1.x/acme/application/app-a/endpoint/http/mbr/downlink", "app-mbr-downlink holds at most 2147483647"},
	} {
		_, err := env.eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{env.edit(t, config.OpMerge, tc.path, tc.body)}})
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != schema.KindInvalid || len(se.Problems) != 1 ||
			se.Problems[0].Path != tc.where || !strings.Contains(se.Problems[0].Reason, tc.why) {
			t.Errorf("%s %s: %v, want %s: …%s", tc.path, tc.body, err, tc.where, tc.why)
		}
	}
	if env.eng.Snapshot().Index != before {
		t.Error("a refused transaction was committed")
	}
	// Host-style addresses are fine: they get a derived name.
	env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1/small-cell/c1", `{"address":"ap1.seattle.starbucks.com"}`))
}

// TestUPFSharedBySlices: two slices on one UPF render one configuration
// with both UE pools and the summed meter, degraded; removing one
// re-renders the other alone, not degraded.
func TestUPFSharedBySlices(t *testing.T) {
	env := smallEnv(t)
	env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1/slice/sl2",
		`{"upf":"u1","device-group":[{"device-group":"dg-unused"}],"mbr":{"uplink":1000000,"downlink":3000000}}`),
		env.edit(t, config.OpDelete, "acme/site/s1/slice/sl2/device-group/dg-noimsi", ""),
		env.edit(t, config.OpDelete, "acme/site/s1/slice/sl2/device-group/dg-simoff", ""))
	upfID := id(kindUPF, "http://upf1:8080", "acme", "s1", "u1")
	d := mustDesired(t, New(Options{}).Render(env.eng.Snapshot()), upfID)
	want := `{"sliceName":"sl1+sl2","sliceQos":{"uplinkMBR":6000000,"downlinkMBR":9000000,"uplinkBurstSize":626000,"downlinkBurstSize":1250000,"bitrateUnit":"bps"},"ueResourceInfo":[{"uePoolId":"dg-ok","dnn":"internet"},{"uePoolId":"dg-unused","dnn":"internet"}]}`
	if d.Err != "" || string(d.Body) != want {
		t.Errorf("shared UPF: err %q body\n got %s\nwant %s", d.Err, d.Body, want)
	}
	if !strings.Contains(d.Degraded, "per-slice QoS is not enforced") || !contains(d.Sources, "aether/2.1.x/acme/site/s1/slice/sl2") {
		t.Errorf("degraded %q sources %v", d.Degraded, d.Sources)
	}
	// A slice without a downlink MBR leaves the shared downlink unmetered.
	env.submit(t, nil, env.edit(t, config.OpRemove, "acme/site/s1/slice/sl2/mbr/downlink", ""))
	d = mustDesired(t, New(Options{}).Render(env.eng.Snapshot()), upfID)
	if !strings.Contains(string(d.Body), `"sliceQos":{"uplinkMBR":6000000,"uplinkBurstSize":626000,"bitrateUnit":"bps"}`) {
		t.Errorf("unmetered direction: %s", d.Body)
	}
	env.submit(t, nil, env.edit(t, config.OpDelete, "acme/site/s1/slice/sl2", ""))
	d = mustDesired(t, New(Options{}).Render(env.eng.Snapshot()), upfID)
	if d.Degraded != "" || !strings.HasPrefix(string(d.Body), `{"sliceName":"sl1",`) {
		t.Errorf("after the delete: degraded %q body %s", d.Degraded, d.Body)
	}
}

// TestHolds: the read-back comparison.
func TestHolds(t *testing.T) {
	for _, tc := range []struct {
		held, sent, where string
		ok                bool
	}{
		{`{"group-name":"dg","imsis":["1"],"ip-domains":[{"dnn":"x"}]}`, `{"imsis":["1"],"ip-domains":[{"dnn":"x","dns-primary":""}]}`, "", true},
		{`{"group-name":"dg","imsis":null}`, `{"imsis":[]}`, "", true},
		{`{"group-name":"dg","imsis":[]}`, `{"imsis":[],"ip-domain-expanded":{"dnn":"x"}}`, "/ip-domain-expanded", false},
		{`{"imsis":["1"]}`, `{"imsis":["1","2"]}`, "/imsis", false},
		{`{"a":{"b":[{"c":1}]}}`, `{"a":{"b":[{"c":2}]}}`, "/a/b/0/c", false},
		{`{"a":0}`, `{"a":false}`, "/a", false},
	} {
		var held, sent any
		if err := json.Unmarshal([]byte(tc.held), &held); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(tc.sent), &sent); err != nil {
			t.Fatal(err)
		}
		if where, ok := holds(held, sent, ""); ok != tc.ok || where != tc.where {
			t.Errorf("holds(%s, %s) = %q %v, want %q %v", tc.held, tc.sent, where, ok, tc.where, tc.ok)
		}
	}
}
