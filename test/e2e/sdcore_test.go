package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/gnmi/proto/gnmi_ext"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestSDCoreConvergesThroughTheBinary is issue 3's newcomer path through the
// real binary and the SD-Core emulator: a slice change arrives as the exact
// webconsole JSON at the core and the UPF; ?wait=applied answers once it
// has; the emulator is killed, changes are made, it restarts empty, and AMP
// converges on its own while /sync-status goes from error/pending to in-sync.
func TestSDCoreConvergesThroughTheBinary(t *testing.T) {
	emu := testenv.Emulator(t)
	s := startAcme(t, emu, "--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth", "--gnmi-anonymous-groups", "AetherROCAdmin")
	body := emulatedSite(emu)
	var res struct {
		Sync    string
		Objects []struct{ ID, Status, Message string }
	}
	b := s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", body)
	if err := json.Unmarshal(b, &res); err != nil || res.Sync != "in-sync" || len(res.Objects) != 3 {
		t.Fatalf("wait=applied: %s", b)
	}
	dg := string(emu.Objects(sdcore.DeviceGroups)["dg1"])
	for _, want := range []string{`"imsis":["315010001000001"]`, `"ue-ip-pool":"10.250.0.0/24"`, `"dnn-mbr-uplink":1000000`, `"qci":7`} {
		if !strings.Contains(dg, want) {
			t.Fatalf("device group at the core lacks %s: %s", want, dg)
		}
	}
	slice := string(emu.Objects(sdcore.NetworkSlices)["sl1"])
	for _, want := range []string{`"tac":255`, `"dest-port-start":8554`, `"protocol":17`, `"priority":250`, `"endpoint":"0.0.0.0/0"`} {
		if !strings.Contains(slice, want) {
			t.Fatalf("slice at the core lacks %s: %s", want, slice)
		}
	}
	if upf := string(emu.Objects(sdcore.UPFSlices)["sl1"]); !strings.Contains(upf, `"uplinkMBR":50000000`) {
		t.Fatalf("UPF config: %s", upf)
	}

	// Through gNMI: OpenConfig's gnmi_cli changes the slice's MBR, and the
	// UPF receives the new QoS.
	cliOut, err := exec.Command(testenv.GNMICli(t), "-address", s.GNMIAddr(t), "-insecure", "-set", "-proto",
		`prefix: {origin: "aether" target: "acme"} update: {path: {elem: {name: "site" key: {key: "site-id" value: "s1"}} elem: {name: "slice" key: {key: "slice-id" value: "sl1"}} elem: {name: "mbr"} elem: {name: "uplink"}} val: {uint_val: 60000000}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("gnmi_cli set: %v\n%s", err, cliOut)
	}
	waitFor(t, func() bool {
		return strings.Contains(string(emu.Objects(sdcore.UPFSlices)["sl1"]), `"uplinkMBR":60000000`)
	}, "the gnmi_cli change reaches the UPF")
	// A gNMI Set with extension 111 answers once applied (extension 110
	// carries the sync verdict).
	conn, err := grpc.NewClient(s.GNMIAddr(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := gpb.NewGNMIClient(conn).Set(context.Background(), &gpb.SetRequest{
		Prefix: &gpb.Path{Origin: "aether", Target: "acme"},
		Update: []*gpb.Update{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "s1"}},
			{Name: "device-group", Key: map[string]string{"device-group-id": "dg1"}}, {Name: "mbr"}, {Name: "downlink"}}},
			Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: 4000000}}}},
		Extension: []*gnmi_ext.Extension{{Ext: &gnmi_ext.Extension_RegisteredExt{RegisteredExt: &gnmi_ext.RegisteredExtension{Id: 111, Msg: []byte("applied")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg := string(resp.GetExtension()[0].GetRegisteredExt().GetMsg()); !strings.Contains(msg, `"sync":"in-sync"`) ||
		!strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-downlink":4000000`) {
		t.Fatalf("gNMI Set with extension 111: %s; core holds %s", msg, emu.Objects(sdcore.DeviceGroups)["dg1"])
	}

	// The core goes away; a change is committed anyway and shows as not
	// applied, with the reason.
	emu.Stop()
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr", `{"uplink":3000000}`)
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?path=/aether/v2.1.x/acme/site/s1/device-group/dg1", ""), &st)
		return st.Summary["error"] > 0
	}, "the unreachable core shows as an error")
	// It comes back EMPTY: AMP notices and puts everything back.
	if err := emu.Restart(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status", ""), &st)
		return st.Summary["in-sync"] == 3 && st.Summary["error"] == 0 && st.Summary["pending"] == 0 &&
			strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-uplink":3000000`) &&
			len(emu.Objects(sdcore.NetworkSlices)) == 1
	}, "AMP resyncs the restarted core")
	// Deleting the slice deletes it at the core.
	s.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/s1/slice/sl1?wait=applied", "")
	if len(emu.Objects(sdcore.NetworkSlices)) != 0 {
		t.Fatalf("slice still at the core: %v", emu.Objects(sdcore.NetworkSlices))
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	waitWithin(t, 20*time.Second, cond, what)
}

// waitWithin is waitFor with its own bound, for the fault tests whose
// recovery involves an etcd election (a liveness bound, not a figure).
func waitWithin(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting: %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSDCoreConvergesAfterAMPRestart: AMP is killed (SIGKILL) while its
// pushes to a slow core are in flight; restarted, it converges by itself.
func TestSDCoreConvergesAfterAMPRestart(t *testing.T) {
	emu := testenv.Emulator(t)
	dir := t.TempDir()
	args := append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms")
	s := testenv.Start(t, dir, args...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied", `{"default-target":"acme","Updates":{
	 "traffic-class-2.1.0":[{"traffic-class-id":"tc","qci":7}],
	 "site-2.1.0":[{"site-id":"s1",
	   "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	   "connectivity-service":{"core-5g":{"endpoint":"`+emu.CoreEndpoint()+`"}},
	   "upf":[{"upf-id":"u1","address":"upf1","port":8805}],
	   "ip-domain":[{"ip-domain-id":"pool","dnn":"internet","subnet":"10.250.0.0/24"}],
	   "device-group":[{"device-group-id":"dg1","ip-domain":"pool","traffic-class":"tc","mbr":{"uplink":1,"downlink":1}}],
	   "slice":[{"slice-id":"sl1","sst":"1","sd":"000001","default-behavior":"DENY-ALL","upf":"u1","device-group":[{"device-group":"dg1"}]}]}]}}`)
	// The core becomes slow; a change is committed and its push hangs.
	emu.SetDelay(3 * time.Second)
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr", `{"uplink":777}`)
	time.Sleep(300 * time.Millisecond)
	s.Kill()
	emu.SetDelay(0)
	s2, err := testenv.StartErr(testenv.Binary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s2.Must(t, 200, "GET", "/sync-status", ""), &st)
		return st.Summary["in-sync"] == 2 && st.Summary["pending"] == 0 && st.Summary["error"] == 0 &&
			strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-uplink":777`)
	}, "AMP converges after being killed mid-push")
}

// startAcme starts AMP on a fresh data directory with emu granted to
// enterprise acme, probing every 200 ms (and the extra flags), and creates
// acme.
func startAcme(t *testing.T, emu *sdcore.Emulator, extra ...string) *testenv.Server {
	t.Helper()
	s := testenv.Start(t, t.TempDir(), append(append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms"), extra...)...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	return s
}

// emulatedSite is a PATCH /aether-roc-api body for enterprise acme: site s1
// whose core and UPF are the emulator, with one device group and slice sl1.
func emulatedSite(emu *sdcore.Emulator) string {
	return `{"default-target":"acme","Updates":{
	 "traffic-class-2.1.0":[{"traffic-class-id":"tc","qci":7,"arp":5,"pdb":100,"pelr":3}],
	 "application-2.1.0":[{"application-id":"cam","address":"10.9.0.1/32","endpoint":[{"endpoint-id":"rtsp","port-start":8554,"protocol":"UDP"}]}],
	 "site-2.1.0":[{"site-id":"s1",
	   "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	   "connectivity-service":{"core-5g":{"endpoint":"` + emu.CoreEndpoint() + `"}},
	   "small-cell":[{"small-cell-id":"c1","address":"gnb1","tac":"00FF"}],
	   "sim-card":[{"sim-id":"sim1","imsi":"315010001000001"},{"sim-id":"sim2","imsi":"315010001000002","enable":false}],
	   "device":[{"device-id":"d1","sim-card":"sim1"}],
	   "upf":[{"upf-id":"u1","address":"upf1","port":8805,"config-endpoint":"` + emu.UPFEndpoint() + `"}],
	   "ip-domain":[{"ip-domain-id":"pool","dnn":"internet","subnet":"10.250.0.0/24"}],
	   "device-group":[{"device-group-id":"dg1","device":[{"device-id":"d1"}],"ip-domain":"pool","traffic-class":"tc","mbr":{"uplink":1000000,"downlink":2000000}}],
	   "slice":[{"slice-id":"sl1","sst":"1","sd":"000001","default-behavior":"DENY-ALL","upf":"u1",
	     "device-group":[{"device-group":"dg1"}],"filter":[{"application":"cam","priority":5}],
	     "mbr":{"uplink":50000000,"downlink":10000000}}]}]}}`
}

// syncObjects is GET /sync-status's objects, by id suffix
// ("…/acme/s1/sl1").
func syncObjects(t *testing.T, s *testenv.Server) map[string]struct{ Status, Message string } {
	t.Helper()
	var st struct {
		Objects []struct{ ID, Status, Message string }
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/sync-status", ""), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]struct{ Status, Message string }{}
	for _, o := range st.Objects {
		parts := strings.Split(o.ID, "/")
		out[parts[0]+"/"+strings.Join(parts[2:], "/")] = struct{ Status, Message string }{o.Status, o.Message}
	}
	return out
}

// TestSDCoreIPDomainFormAndReadBack (issue 9 findings 1 and 7): by default
// device groups go in webconsole's current "ip-domains" form and arrive
// whole; a webconsole of the other form answers 200 and drops the IP
// domain, and AMP, reading the object back, reports an error, never
// in-sync; --sdcore-legacy-ip-domain-core fixes it for that core.
func TestSDCoreIPDomainFormAndReadBack(t *testing.T) {
	emu := testenv.Emulator(t)
	s := startAcme(t, emu)
	b := s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", emulatedSite(emu))
	if !strings.Contains(string(b), `"sync":"in-sync"`) {
		t.Fatalf("current webconsole: %s", b)
	}
	if dg := string(emu.Objects(sdcore.DeviceGroups)["dg1"]); !strings.Contains(dg, `"ip-domains":[{"dnn":"internet","ue-ip-pool":"10.250.0.0/24"`) {
		t.Fatalf("the core holds %s", dg)
	}
	s.Stop()

	// A webconsole before v2.1.1 takes only "ip-domain-expanded".
	legacy := testenv.Emulator(t)
	legacy.SetLegacyIPDomain(true)
	dir := t.TempDir()
	s = testenv.Start(t, dir, append(testenv.Backends(t, "acme", legacy), "--probe-every", "200ms")...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	b = s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", emulatedSite(legacy))
	if !strings.Contains(string(b), `"sync":"error"`) || !strings.Contains(string(b), "does not hold what was sent") {
		t.Fatalf("a dropped IP domain must not be in-sync: %s", b)
	}
	if st := syncObjects(t, s)["device-group/acme/s1/dg1"]; st.Status != "error" || !strings.Contains(st.Message, "at /ip-domains") {
		t.Fatalf("sync-status of dg1: %+v", st)
	}
	s.Stop()
	s = testenv.Start(t, dir, append(testenv.Backends(t, "acme", legacy), "--probe-every", "200ms", "--sdcore-legacy-ip-domain-core", legacy.CoreEndpoint())...)
	waitFor(t, func() bool {
		st := syncObjects(t, s)["device-group/acme/s1/dg1"]
		return st.Status == "in-sync" && strings.Contains(string(legacy.Objects(sdcore.DeviceGroups)["dg1"]), `"ip-domain-expanded":{"dnn":"internet"`)
	}, "the legacy form reaches the legacy webconsole")
}

// TestSDCoreBackoffThroughTheBinary (finding 2, and the demo's "logged once
// per state change"): a core that refuses everything gets at most the
// pushes the schedule allows (100 ms doubling, jitter only adding), however
// many other commits happen meanwhile; the refusal is logged once, and the
// recovery once, with the count.
func TestSDCoreBackoffThroughTheBinary(t *testing.T) {
	emu := testenv.Emulator(t)
	emu.SetFailing(http.StatusBadRequest)
	s := startAcme(t, emu)
	start := time.Now()
	s.Must(t, 200, "PATCH", "/aether-roc-api", emulatedSite(emu))
	// Other commits keep the controller reconciling; none may reset the
	// failing objects' backoff.
	for i := range 20 {
		s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/traffic-class/tc", fmt.Sprintf(`{"description":"commit %d"}`, i))
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	posts := 0
	for _, r := range emu.Requests() {
		if r.Method == http.MethodPost && r.Path == "/config/v1/device-group/dg1" {
			posts++
		}
	}
	// Attempt n comes at least 100 ms × (2^(n-1) − 1) after the first.
	bound := 1
	for 100*time.Millisecond*time.Duration(1<<bound-1) <= elapsed {
		bound++
	}
	if posts < 2 || posts > bound {
		t.Fatalf("%d POSTs of dg1 in %v; the schedule allows at most %d", posts, elapsed, bound)
	}
	if n := strings.Count(s.Log(), "backend push failed; retrying with backoff"); n != 2 { // the core and the UPF
		t.Fatalf("%d failure lines, want one per backend:\n%s", n, s.Log())
	}
	emu.SetFailing(0)
	waitFor(t, func() bool { return strings.Count(s.Log(), `"msg":"backend push works again"`) == 2 }, "one recovery line per backend")
	if !strings.Contains(s.Log(), `"failures":`) {
		t.Fatalf("the recovery line has no count:\n%s", s.Log())
	}
}

// TestSDCoreSharedUPFThroughTheBinary (finding 3): two slices on one UPF,
// which holds one slice configuration: it gets one configuration with both
// slices' UE pools and the summed meter, and the UPF object is degraded,
// never in-sync; deleting one slice re-pushes the other alone (a POST: the
// real UPF has no DELETE).
func TestSDCoreSharedUPFThroughTheBinary(t *testing.T) {
	emu := testenv.Emulator(t)
	s := startAcme(t, emu)
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", emulatedSite(emu))
	b := s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", `{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"s1",
	  "ip-domain":[{"ip-domain-id":"pool2","dnn":"iot","subnet":"10.251.0.0/24"}],
	  "device-group":[{"device-group-id":"dg2","ip-domain":"pool2","traffic-class":"tc","mbr":{"uplink":1,"downlink":1}}],
	  "slice":[{"slice-id":"sl2","sst":"1","sd":"000002","default-behavior":"DENY-ALL","upf":"u1","device-group":[{"device-group":"dg2"}],"mbr":{"uplink":20000000,"downlink":5000000}}]}]}}`)
	if !strings.Contains(string(b), `"sync":"degraded"`) || !strings.Contains(string(b), "per-slice QoS is not enforced") {
		t.Fatalf("two slices on one UPF: %s", b)
	}
	upf := emu.Objects(sdcore.UPFSlices)
	want := `{"sliceName":"sl1+sl2","sliceQos":{"uplinkMBR":70000000,"downlinkMBR":15000000,"uplinkBurstSize":1250000,"downlinkBurstSize":1250000,"bitrateUnit":"bps"},"ueResourceInfo":[{"uePoolId":"dg1","dnn":"internet"},{"uePoolId":"dg2","dnn":"iot"}]}`
	if len(upf) != 1 || string(upf["sl1+sl2"]) != want {
		t.Fatalf("the UPF holds %s, want %s", upf, want)
	}
	if st := syncObjects(t, s)["upf/acme/s1/u1"]; st.Status != "degraded" {
		t.Fatalf("UPF status %+v", st)
	}
	emu.ResetRequests()
	b = s.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/s1/slice/sl2?wait=applied&wait-timeout=10s", "")
	if !strings.Contains(string(b), `"sync":"in-sync"`) {
		t.Fatalf("after deleting sl2: %s", b)
	}
	if upf := emu.Objects(sdcore.UPFSlices); len(upf) != 1 || !strings.HasPrefix(string(upf["sl1"]), `{"sliceName":"sl1","sliceQos":{"uplinkMBR":50000000`) {
		t.Fatalf("the UPF holds %s", upf)
	}
	for _, r := range emu.Requests() {
		if strings.HasPrefix(r.Path, "/v1/config/network-slices") && r.Method != http.MethodPost {
			t.Errorf("%s %s -> %d: the real UPF takes only PUT and POST", r.Method, r.Path, r.Status)
		}
	}
}

// TestSDCoreCommitTimeRulesThroughTheBinary (findings 4, 5 and 6): what
// webconsole would refuse is refused at commit with the path and its rule,
// and nothing is committed; host-style small-cell addresses reach the core
// as valid gNodeB names; sd goes as six hex digits; a webconsole with
// authentication gets the token from --sdcore-token-file; a restart leaves
// another tool's objects on the core alone.
func TestSDCoreCommitTimeRulesThroughTheBinary(t *testing.T) {
	emu := testenv.Emulator(t)
	emu.SetToken("wc-token-1")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "webconsole.token")
	if err := os.WriteFile(tokenFile, []byte("wc-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Another tool's device group on the shared core.
	req, _ := http.NewRequest(http.MethodPost, emu.CoreEndpoint()+"/v1/device-group/foreign", strings.NewReader(`{"imsis":[]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer wc-token-1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	s := testenv.Start(t, filepath.Join(dir, "amp"), append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms", "--sdcore-token-file", tokenFile)...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	site := strings.Replace(emulatedSite(emu), `"address":"gnb1"`, `"address":"gnb1.acme-chicago.local"`, 1)
	site = strings.Replace(site, `"sd":"000001"`, `"sd":"1"`, 1)
	b := s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", site)
	if !strings.Contains(string(b), `"sync":"in-sync"`) {
		t.Fatalf("%s", b)
	}
	slice := string(emu.Objects(sdcore.NetworkSlices)["sl1"])
	if !strings.Contains(slice, `"gNodeBs":[{"name":"gnb1-acme-chicago-local","tac":255}]`) || !strings.Contains(slice, `"sd":"000001"`) {
		t.Fatalf("the core holds %s", slice)
	}
	if strings.Contains(s.Log(), "wc-token-1") {
		t.Fatal("the webconsole token is in the log")
	}
	index := s.Must(t, 200, "GET", "/sync-status", "")
	for _, tc := range []struct{ path, body, where, why string }{
		{"/aether/v2.1.x/acme/site/s1/slice/x", `{"slice-id":"x","sst":"1","sd":"000003","default-behavior":"DENY-ALL"}`,
			"/aether/v2.1.x/acme/site/s1/slice/x/slice-id", `webconsole requires ^[a-zA-Z][a-zA-Z0-9-_]{1,255}$`},
		{"/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr", `{"uplink":9223372036854775808}`,
			"/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr/uplink", "webconsole's dnn-mbr-uplink holds at most 9223372036854775807"},
	} {
		code, body, hdr, err := s.Do(context.Background(), "PATCH", tc.path, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		var prob struct {
			Errors []struct{ Path, Reason string }
		}
		_ = json.Unmarshal(body, &prob)
		if code != 400 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/problem+json") || len(prob.Errors) != 1 ||
			prob.Errors[0].Path != tc.where || !strings.Contains(prob.Errors[0].Reason, tc.why) {
			t.Errorf("PATCH %s %s: %d %s, want 400 at %s: …%s", tc.path, tc.body, code, body, tc.where, tc.why)
		}
	}
	var before, after struct{ Index uint64 }
	_ = json.Unmarshal(index, &before)
	_ = json.Unmarshal(s.Must(t, 200, "GET", "/sync-status", ""), &after)
	if before.Index != after.Index {
		t.Errorf("a refused write committed: index %d -> %d", before.Index, after.Index)
	}
	// A restart (a full resync) leaves the other tool's device group: the
	// core is listed (the full resync's Held, then the probes') and only
	// AMP's objects are pushed.
	s.Stop()
	restarted := time.Now()
	s = testenv.Start(t, filepath.Join(dir, "amp"), append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms", "--sdcore-token-file", tokenFile)...)
	waitFor(t, func() bool {
		lists := 0
		for _, r := range emu.Requests() {
			if r.Method == http.MethodGet && r.Path == "/config/v1/device-group" && r.Time.After(restarted) {
				lists++
			}
		}
		return lists >= 3
	}, "the restarted AMP lists the core")
	if _, ok := emu.Objects(sdcore.DeviceGroups)["foreign"]; !ok {
		t.Fatal("AMP deleted another tool's device group on restart")
	}
}

// TestSDCoreWaitAppliedNeverInSyncForUnappliedChange: a write to a device
// group that cannot be sent (a device's SIM is disabled) is not applied,
// and ?wait=applied says so, even when the object was already in error
// for the same reason before the write.
func TestSDCoreWaitAppliedNeverInSyncForUnappliedChange(t *testing.T) {
	emu := testenv.Emulator(t)
	s := startAcme(t, emu)
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", emulatedSite(emu))
	b := s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1?wait=applied&wait-timeout=10s",
		`{"device":[{"device-id":"d2","sim-card":"sim2"}],"device-group":[{"device-group-id":"dg1","device":[{"device-id":"d2"}]}]}`)
	if !strings.Contains(string(b), `"sync":"error"`) || !strings.Contains(string(b), "which is disabled") {
		t.Fatalf("a device group with a disabled SIM: %s", b)
	}
	b = s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr?wait=applied&wait-timeout=10s", `{"uplink":3000000}`)
	if !strings.Contains(string(b), `"sync":"error"`) {
		t.Fatalf("a change the core did not get was answered %s", b)
	}
	if strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-uplink":3000000`) {
		t.Fatal("the core got the change after all")
	}
}

// TestSDCoreWaitAppliedShowsOnlyTheCallersObjects: a tenant's
// ?wait=applied (and gNMI Set with extension 111) also waits through other
// tenants' later commits; their objects are neither shown to it nor
// counted in its verdict.
func TestSDCoreWaitAppliedShowsOnlyTheCallersObjects(t *testing.T) {
	emu := testenv.Emulator(t)
	s := testenv.Start(t, t.TempDir(), append(testenv.Backends(t, "acme, starbucks", emu), "--probe-every", "200ms", "--gnmi-listen", "127.0.0.1:0")...)
	for _, ent := range []string{"acme", "starbucks"} {
		s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"`+ent+`"}`)
	}
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", emulatedSite(emu))
	other := strings.NewReplacer(`"default-target":"acme"`, `"default-target":"starbucks"`, `"site-id":"s1"`, `"site-id":"s2"`,
		`"dg1"`, `"dg2"`, `"sl1"`, `"sl2"`, "315010001", "315010002", `"enterprise":1`, `"enterprise":2`).Replace(emulatedSite(emu))
	other = strings.Replace(other, `"config-endpoint":"`+emu.UPFEndpoint()+`"`, `"display-name":"not pushed"`, 1) // one UPF holds one slice
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", other)
	var created struct{ Token string }
	_ = json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`), &created)

	conn, err := grpc.NewClient(s.GNMIAddr(t), s.GNMIDialOption(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gnmiSet := func(v uint64) (string, error) {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+created.Token)
		resp, err := gpb.NewGNMIClient(conn).Set(ctx, &gpb.SetRequest{
			Prefix: &gpb.Path{Origin: "aether", Target: "acme"},
			Update: []*gpb.Update{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "s1"}},
				{Name: "device-group", Key: map[string]string{"device-group-id": "dg1"}}, {Name: "mbr"}, {Name: "uplink"}}},
				Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: v}}}},
			Extension: []*gnmi_ext.Extension{{Ext: &gnmi_ext.Extension_RegisteredExt{RegisteredExt: &gnmi_ext.RegisteredExtension{Id: 111, Msg: []byte("applied")}}}},
		})
		if err != nil {
			return "", err
		}
		return string(resp.GetExtension()[0].GetRegisteredExt().GetMsg()), nil
	}

	emu.SetDelay(time.Second) // every push now takes a second
	for i, via := range []string{"rest", "gnmi"} {
		uplink := 1234 + i
		done := make(chan string, 1)
		go func() {
			if via == "gnmi" {
				msg, err := gnmiSet(uint64(uplink))
				if err != nil {
					msg = err.Error()
				}
				done <- msg
				return
			}
			code, b, _, err := s.Do(context.Background(), "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr?wait=applied&wait-timeout=20s",
				fmt.Sprintf(`{"uplink":%d}`, uplink), "Authorization", "Bearer "+created.Token)
			if err != nil || code != 200 {
				b = []byte(fmt.Sprint(code, err, string(b)))
			}
			done <- string(b)
		}()
		waitFor(t, func() bool {
			return strings.Contains(string(s.Must(t, 200, "GET", "/sync-status?status=pending", "")), "dg1")
		}, "acme's push is under way")
		s.Must(t, 200, "PATCH", "/aether/v2.1.x/starbucks/site/s2/device-group/dg2/mbr", fmt.Sprintf(`{"uplink":%d}`, 4321+i))
		a := <-done
		if !strings.Contains(a, `"sync":"in-sync"`) || !strings.Contains(a, "dg1") {
			t.Fatalf("acme's write via %s: %s", via, a)
		}
		if strings.Contains(a, "starbucks") || strings.Contains(a, "dg2") {
			t.Fatalf("acme's answer via %s shows starbucks' objects: %s", via, a)
		}
	}
}
