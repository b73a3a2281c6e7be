package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/testenv"
)

// tenantSite is a PATCH /aether-roc-api body for enterprise ent: site
// siteID with one device (IMSI 315010<ent><site>), device group dg1 and
// slice sl1, its core at core and its UPF's config endpoint at upf ("" for
// none).
func tenantSite(ent string, entNum int, siteID, core, upf string) string {
	upfCfg := ""
	if upf != "" {
		upfCfg = `,"config-endpoint":"` + upf + `"`
	}
	return fmt.Sprintf(`{"default-target":%q,"Updates":{
	 "traffic-class-2.1.0":[{"traffic-class-id":"tc","qci":7}],
	 "site-2.1.0":[{"site-id":%q,
	   "imsi-definition":{"mcc":"315","mnc":"010","enterprise":%d,"format":"CCCNNNEEESSSSSS"},
	   "connectivity-service":{"core-5g":{"endpoint":%q}},
	   "small-cell":[{"small-cell-id":"c1","address":"gnb1","tac":"00FF"}],
	   "sim-card":[{"sim-id":"sim1","imsi":"315010%03d000001"}],
	   "device":[{"device-id":"d1","sim-card":"sim1"}],
	   "upf":[{"upf-id":"u1","address":"upf1","port":8805%s}],
	   "ip-domain":[{"ip-domain-id":"pool","dnn":"internet","subnet":"10.250.0.0/24"}],
	   "device-group":[{"device-group-id":"dg1","device":[{"device-id":"d1"}],"ip-domain":"pool","traffic-class":"tc","mbr":{"uplink":1000,"downlink":1000}}],
	   "slice":[{"slice-id":"sl1","sst":"1","sd":"000001","default-behavior":"DENY-ALL","upf":"u1",
	     "device-group":[{"device-group":"dg1"}],"mbr":{"uplink":5000000}}]}]}}`, ent, siteID, entNum, core, entNum, upfCfg)
}

func writeBackends(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backends.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// enterpriseAdmin returns the Authorization header value of a new
// enterprise admin of ent.
func enterpriseAdmin(t *testing.T, s *testenv.Server, ent string) string {
	var created struct{ Token string }
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"`+ent+`-admin-user","role":"enterprise-admin","enterprise":"`+ent+`"}`), &created)
	return "Bearer " + created.Token
}

// statusAs is /sync-status as the caller (auth) sees it, and its summary.
func statusAs(t *testing.T, s *testenv.Server, auth string) (string, map[string]int) {
	t.Helper()
	b := s.Must(t, 200, "GET", "/sync-status", "", "Authorization", auth)
	var st struct{ Summary map[string]int }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return string(b), st.Summary
}

// TestTenantCannotPointAtAnotherTenantsCore is issue 8 finding 1 through
// the binary: the operator grants acme its core and starbucks its own;
// acme's admin cannot point acme's site (or UPF) at starbucks' core — the
// commit is refused with the leaf's path and the rule — so nothing of acme
// lands there, starbucks' own changes keep arriving, and nothing acme
// reads names starbucks.
func TestTenantCannotPointAtAnotherTenantsCore(t *testing.T) {
	emuA := testenv.Emulator(t)
	emuS := testenv.Emulator(t)
	file := writeBackends(t, fmt.Sprintf(`backends:
- {name: acme-core, kind: core, url: %q, enterprises: [acme]}
- {name: acme-upf, kind: upf, url: %q, enterprises: [acme]}
- {name: sb-core, kind: core, url: %q, enterprises: [starbucks]}
- {name: sb-upf, kind: upf, url: %q, enterprises: [starbucks]}
`, emuA.CoreEndpoint(), emuA.UPFEndpoint(), emuS.CoreEndpoint(), emuS.UPFEndpoint()))
	s := testenv.Start(t, t.TempDir(), "--backends", file, "--backend-allow-net", "127.0.0.1", "--probe-every", "200ms")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"starbucks"}`)
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied", tenantSite("starbucks", 2, "sb1", emuS.CoreEndpoint(), emuS.UPFEndpoint()))
	alice := enterpriseAdmin(t, s, "acme")
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied", tenantSite("acme", 1, "s1", emuA.CoreEndpoint(), emuA.UPFEndpoint()), "Authorization", alice)

	// acme points its site, a new site and its UPF at starbucks' backends.
	base := "/aether/v2.1.x/acme/site/s1"
	attempts := []struct{ method, path, body, leaf string }{
		{"PATCH", base + "/connectivity-service/core-5g", `{"endpoint":"` + emuS.CoreEndpoint() + `"}`, base + "/connectivity-service/core-5g/endpoint"},
		{"PATCH", base + "/upf/u1", `{"config-endpoint":"` + emuS.UPFEndpoint() + `"}`, base + "/upf/u1/config-endpoint"},
		{"PATCH", "/aether-roc-api", tenantSite("acme", 1, "s2", emuS.CoreEndpoint(), ""), "/aether/v2.1.x/acme/site/s2/connectivity-service/core-5g/endpoint"},
		// A backend granted to nobody, and a URL on starbucks' core host.
		{"PATCH", base + "/connectivity-service/core-4g", `{"endpoint":"` + emuS.URL + `/other"}`, base + "/connectivity-service/core-4g/endpoint"},
	}
	for _, a := range attempts {
		b := string(s.Must(t, 400, a.method, a.path, a.body, "Authorization", alice))
		if !strings.Contains(b, `"path":"`+a.leaf+`"`) || !strings.Contains(b, "backend the operator granted to enterprise acme") {
			t.Errorf("%s %s: the refusal does not name %s and the rule: %s", a.method, a.path, a.leaf, b)
		}
		if !strings.Contains(b, "it may choose "+emuA.CoreEndpoint()) && !strings.Contains(b, "it may choose "+emuA.UPFEndpoint()) {
			t.Errorf("%s %s: the refusal does not say what acme may choose: %s", a.method, a.path, b)
		}
		if strings.Contains(b, "starbucks") || strings.Contains(b, "sb-") {
			t.Errorf("%s %s: the refusal names starbucks: %s", a.method, a.path, b)
		}
	}

	// starbucks' core never heard of acme, and starbucks' next change
	// arrives.
	b := s.Must(t, 200, "PATCH", "/aether/v2.1.x/starbucks/site/sb1/device-group/dg1/mbr?wait=applied", `{"uplink":777}`)
	if !strings.Contains(string(b), `"in-sync"`) {
		t.Fatalf("starbucks' change: %s", b)
	}
	for kind, objs := range map[string]map[string]json.RawMessage{"device groups": emuS.Objects(sdcore.DeviceGroups), "slices": emuS.Objects(sdcore.NetworkSlices)} {
		for name, body := range objs {
			if strings.Contains(string(body), "315010001") || strings.Contains(string(body), `"s1"`) {
				t.Errorf("starbucks' core holds acme's %s %s: %s", kind, name, body)
			}
		}
	}
	if dg := string(emuS.Objects(sdcore.DeviceGroups)["dg1"]); !strings.Contains(dg, `"dnn-mbr-uplink":777`) {
		t.Fatalf("starbucks' change did not reach its core: %s", dg)
	}
	for _, r := range emuS.Requests() {
		if r.Method != http.MethodGet && strings.Contains(string(r.Body), "315010001") {
			t.Errorf("acme's data was sent to starbucks' core: %s %s", r.Method, r.Path)
		}
	}
	// acme's status is all in-sync and never names starbucks.
	text, sum := statusAs(t, s, alice)
	if sum["in-sync"] == 0 || sum["error"]+sum["pending"] != 0 || strings.Contains(text, "starbucks") || strings.Contains(text, "sb1") {
		t.Fatalf("acme's /sync-status: %s", text)
	}
}

// TestBackendEndpointsCannotReachInternalServices is issue 8 finding 2
// through the binary: endpoint values that would make AMP request an
// internal service (a fragment that swallows AMP's path, user
// information, other schemes, the cloud metadata address, loopback) are
// refused at commit; a backend the operator granted by a name that
// resolves to loopback is refused at connect time, so the service never
// sees a request; and a backend's answer is never shown to the tenant,
// only to the operator, bounded and without control characters.
func TestBackendEndpointsCannotReachInternalServices(t *testing.T) {
	var internalHits atomic.Int64
	internal := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		fmt.Fprint(w, `["internal-secret"]`)
	})}
	iln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go internal.Serve(iln)
	defer internal.Close()
	iport := iln.Addr().(*net.TCPAddr).Port

	// A granted backend on an allowed address that refuses everything and
	// says too much while doing so.
	leaky := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "SECRET-7f3a db=postgres://root:hunter2@db \x1b[2J\x07"+strings.Repeat("x", 4000))
	})}
	lln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	go leaky.Serve(lln)
	defer leaky.Close()

	internalByName := fmt.Sprintf("http://localhost:%d/config", iport)
	file := writeBackends(t, fmt.Sprintf(`backends:
- {name: by-name, kind: core, url: %q, enterprises: [acme]}
- {name: leaky, kind: core, url: "http://%s/config", enterprises: [acme]}
`, internalByName, lln.Addr()))
	s := testenv.Start(t, t.TempDir(), "--backends", file, "--backend-allow-net", "127.0.0.2", "--probe-every", "200ms")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	alice := enterpriseAdmin(t, s, "acme")
	s.Must(t, 200, "PATCH", "/aether-roc-api", tenantSite("acme", 1, "s1", "http://"+lln.Addr().String()+"/config", ""), "Authorization", alice)

	leaf := "/aether/v2.1.x/acme/site/s1/connectivity-service/core-5g"
	for _, bad := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/secret#", iport),
		fmt.Sprintf("http://127.0.0.1:%d/config", iport),
		fmt.Sprintf("http://user:pw@localhost:%d/config", iport),
		fmt.Sprintf("http://localhost:%d/config?x=", iport),
		fmt.Sprintf("ftp://localhost:%d/config", iport),
		"http://169.254.169.254/latest/meta-data",
		"http://[fd00:ec2::254]/latest",
	} {
		b := string(s.Must(t, 400, "PATCH", leaf, `{"endpoint":"`+bad+`"}`, "Authorization", alice))
		if !strings.Contains(b, `"path":"`+leaf+`/endpoint"`) {
			t.Errorf("%s: the refusal does not name the leaf: %s", bad, b)
		}
	}

	// The operator granted the internal service by a name that resolves to
	// loopback: the commit passes, the connection does not.
	s.Must(t, 200, "PATCH", "/aether-roc-api", tenantSite("acme", 1, "s2", internalByName, ""), "Authorization", alice)
	waitFor(t, func() bool {
		text, sum := statusAs(t, s, alice)
		return sum["error"] >= 4 && strings.Contains(text, "backend network policy")
	}, "the loopback backend's objects fail on the network policy")
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal service received %d requests", n)
	}

	// The leaky backend's answer stays with the operator.
	text, _ := statusAs(t, s, alice)
	if strings.Contains(text, "SECRET-7f3a") || strings.Contains(text, "hunter2") {
		t.Fatalf("the tenant sees the backend's answer: %s", text)
	}
	if !strings.Contains(text, "the backend answered 500 Internal Server Error") {
		t.Fatalf("the tenant is not told the backend refused: %s", text)
	}
	waitFor(t, func() bool { return strings.Contains(s.Log(), "SECRET-7f3a") }, "the operator's log shows the backend's reason")
	for _, line := range strings.Split(s.Log(), "\n") {
		if strings.Contains(line, "SECRET-7f3a") && (strings.Contains(line, `\u001b`) || strings.Contains(line, `\u0007`) || strings.Contains(line, strings.Repeat("x", 300))) {
			t.Fatalf("the operator's log holds the raw answer: %s", line)
		}
	}
}

// TestDemoReachesInSync is issue 9's demo through the binary: amp serve
// --demo runs its emulated cores and UPFs in-process, every demo object
// reaches in-sync with no warning logged, a change arrives at the emulated
// core, and a restart on the same data dir finds them where the demo data
// points.
func TestDemoReachesInSync(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--demo", "--probe-every", "200ms")
	allInSync := func(s *testenv.Server) func() bool {
		return func() bool {
			_, sum := statusAs(t, s, "Bearer "+s.Token)
			return sum["in-sync"] >= 24 && sum["error"] == 0 && sum["pending"] == 0
		}
	}
	waitWithin(t, time.Minute, allInSync(s), "every demo object in-sync")
	addr, err := os.ReadFile(filepath.Join(dir, "demo-backends.addr"))
	if err != nil {
		t.Fatal(err)
	}
	core := "http://" + strings.TrimSpace(string(addr)) + "/acme-chicago/core/config/v1"
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras/mbr?wait=applied", `{"uplink":5000000}`)
	if b := get(t, core+"/device-group/cameras"); !strings.Contains(b, `"dnn-mbr-uplink":5000000`) {
		t.Fatalf("the change did not arrive at the emulated core: %s", b)
	}
	if b := get(t, core+"/network-slice/video"); !strings.Contains(b, `"gnb1-acme-chicago"`) {
		t.Fatalf("the emulated core's slice: %s", b)
	}
	s.Stop()
	s2 := testenv.Start(t, dir, "--demo", "--probe-every", "200ms")
	waitWithin(t, time.Minute, allInSync(s2), "every demo object in-sync after a restart")
	for _, srv := range []*testenv.Server{s, s2} {
		for _, line := range strings.Split(srv.Log(), "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("the demo logged: %s", line)
			}
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

// TestRevokedGrantStopsThePushes: the operator edits the backends file at
// run time; the reload is audited; acme's core grant is revoked, so AMP
// takes acme's objects off that core, pushes nothing more there, and tells
// acme why without naming who holds the core now. A file that does not
// parse changes nothing.
func TestRevokedGrantStopsThePushes(t *testing.T) {
	emu := testenv.Emulator(t)
	file := writeBackends(t, fmt.Sprintf(`backends:
- {name: lab-core, kind: core, url: %q, enterprises: [acme]}
`, emu.CoreEndpoint()))
	s := testenv.Start(t, t.TempDir(), "--backends", file, "--backend-allow-net", "127.0.0.1", "--probe-every", "200ms")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	alice := enterpriseAdmin(t, s, "acme")
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied", tenantSite("acme", 1, "s1", emu.CoreEndpoint(), ""), "Authorization", alice)
	if _, ok := emu.Objects(sdcore.DeviceGroups)["dg1"]; !ok {
		t.Fatal("acme's device group did not reach its core")
	}

	if err := os.WriteFile(file, []byte(fmt.Sprintf(`backends:
- {name: lab-core, kind: core, url: %q, enterprises: [starbucks]}
`, emu.CoreEndpoint())), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		text, sum := statusAs(t, s, alice)
		_, held := emu.Objects(sdcore.DeviceGroups)["dg1"]
		return sum["error"] == 2 && sum["in-sync"] == 0 && !held && strings.Contains(text, "is not a core backend the operator granted to enterprise acme")
	}, "the revoked grant takes acme's objects off the core and shows why")
	if text, _ := statusAs(t, s, alice); strings.Contains(text, "starbucks") {
		t.Fatalf("acme's status names the core's new holder: %s", text)
	}
	// An unrelated edit is accepted; nothing reaches the core.
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr?wait=applied", `{"uplink":4242}`, "Authorization", alice)
	for _, r := range emu.Requests() {
		if strings.Contains(string(r.Body), "4242") {
			t.Fatalf("a change reached a core acme no longer has: %s %s", r.Method, r.Path)
		}
	}
	// A broken file is refused whole; the grants in force stay.
	if err := os.WriteFile(file, []byte("backends: [{name: x, kind: core, url: \"http://x#\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(s.Log(), "backends file not loaded") }, "the broken file is reported")
	s.Must(t, 400, "PATCH", "/aether/v2.1.x/acme/site/s1/connectivity-service/core-5g", `{"endpoint":"http://x"}`, "Authorization", alice)
	// Every load is in the audit trail.
	audit := string(s.Must(t, 200, "GET", "/audit?principal=operator&limit=100", ""))
	if n := strings.Count(audit, `"backends-load"`); n != 3 || !strings.Contains(audit, "lab-core(core)=starbucks") || !strings.Contains(audit, `"outcome":"error"`) {
		t.Fatalf("audit trail has %d backends loads: %s", n, audit)
	}
}
