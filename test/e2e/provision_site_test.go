package e2e

// The book's provisioning conventions through the real binary (issue 11,
// part 3; docs/provisioning.md, "Site conventions"): `amp provision site`
// turns a short spec into the whole site as one transaction, `amp
// provision check` reports departures, and a bad spec changes nothing.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/provision/conventions"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/testenv"
)

var bookExample = filepath.Join(testenv.RepoRoot(), "internal/provision/conventions/testdata/book-example.yaml")

// amp runs the CLI against s and returns its exit code and output.
func amp(t testing.TB, s *testenv.Server, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = s.Env()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("amp %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// index is the server's current transaction index.
func index(t testing.TB, s *testenv.Server) string {
	t.Helper()
	_, _, hdr, err := s.Do(context.Background(), "GET", "/inventory/v1.0.0", "")
	if err != nil || hdr.Get("X-AMP-Index") == "" {
		t.Fatalf("GET /inventory/v1.0.0: %v %v", err, hdr)
	}
	return hdr.Get("X-AMP-Index")
}

// TestProvisionSiteBookExample: the book's example site through `amp
// provision site`: the dry run writes nothing, the site is one
// transaction with the book's addresses, running it again records
// nothing, the check is clean until a hand edit departs, an enterprise
// admin may neither generate nor check it, rolling back the one
// transaction takes the whole site away, and the admin of a site's tenant
// may check that site.
func TestProvisionSiteBookExample(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none")
	site := "/inventory/v1.0.0/site/stanford1"

	code, out, errOut := amp(t, s, "provision", "site", "-f", bookExample, "--dry-run")
	if code != 0 || !strings.Contains(out, "+ /inventory/v1.0.0/ip-address/10.0.1.130") || !strings.Contains(out, "nothing was committed") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	s.Must(t, 404, "GET", site, "")

	code, out, errOut = amp(t, s, "provision", "site", "-f", bookExample, "-m", "rack stanford1")
	m := regexp.MustCompile(`committed transaction (\d+) `).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("provision: exit %d\n%s%s", code, out, errOut)
	}
	txn := m[1]
	// The book's address list, address by address (qsfp1 in the second
	// FABRIC /25), and the FQDN of a device on its primary address.
	for addr, want := range map[string]string{
		"10.0.0.1":   `"device":"mgmtserver1.prod1","dns-name":"mgmtserver1.prod1.stanford1.aetherproject.net","interface":"eno2"`,
		"10.0.0.2":   `"device":"mgmtserver1.prod1","dns-name":"mgmtserver1.admin.prod1.stanford1.aetherproject.net","interface":"bmc"`,
		"10.0.0.129": `"interface":"mgmt800"`,
		"10.0.1.1":   `"interface":"fab801"`,
		"10.0.0.3":   `"device":"mgmtswitch1.prod1","dns-name":"mgmtswitch1.prod1.stanford1.aetherproject.net","interface":"gbe1"`,
		"10.0.0.130": `"device":"leaf1.prod1","dns-name":"leaf1.prod1.stanford1.aetherproject.net","interface":"eth0"`,
		"10.0.0.4":   `"device":"node1.prod1","dns-name":"node1.admin.prod1.stanford1.aetherproject.net","interface":"bmc"`,
		"10.0.1.2":   `"device":"node1.prod1","dns-name":"node1.fab1.prod1.stanford1.aetherproject.net","interface":"qsfp0"`,
		"10.0.1.130": `"device":"node1.prod1","dns-name":"node1.fab2.prod1.stanford1.aetherproject.net","interface":"qsfp1"`,
		"10.0.2.132": `"device":"node1.dev1","dns-name":"node1.dev1.stanford1.aetherproject.net","interface":"eth0"`,
	} {
		got := string(s.Must(t, 200, "GET", "/inventory/v1.0.0/ip-address/"+addr, ""))
		if !strings.Contains(got, want) {
			t.Errorf("ip-address %s = %s, want %s", addr, got, want)
		}
	}
	var vlan struct{ VID json.Number }
	json.Unmarshal(s.Must(t, 200, "GET", site+"/vlan/DEV1FABRIC", ""), &vlan)
	var dev struct {
		PrimaryIP string `json:"primary-ip"`
	}
	json.Unmarshal(s.Must(t, 200, "GET", site+"/device/node3.prod1", ""), &dev)
	if vlan.VID != "811" || dev.PrimaryIP != "10.0.0.140" {
		t.Errorf("DEV1FABRIC vid %s (want 811), node3 primary %s (want 10.0.0.140)", vlan.VID, dev.PrimaryIP)
	}

	before := index(t, s)
	code, out, _ = amp(t, s, "provision", "site", "-f", bookExample)
	if code != 0 || !strings.Contains(out, "no changes: nothing recorded") || index(t, s) != before {
		t.Errorf("again: exit %d, index %s → %s\n%s", code, before, index(t, s), out)
	}

	code, out, _ = amp(t, s, "provision", "check", "stanford1")
	if code != 0 || !strings.Contains(out, "site stanford1 follows the conventions") {
		t.Errorf("check of the generated site: exit %d\n%s", code, out)
	}
	s.Must(t, 200, "PATCH", site+"/vlan/MGMT", `{"vid":805}`)
	handEdit := index(t, s)
	code, out, _ = amp(t, s, "provision", "check", "stanford1")
	if code != 1 || !strings.Contains(out, site+"/vlan/MGMT/vid: VID 805 is not one of the conventions'") ||
		!strings.Contains(out, site+"/vlan: no VLAN 800") || !strings.Contains(out, "2 departures") {
		t.Errorf("check after a hand edit: exit %d\n%s", code, out)
	}
	s.Must(t, 404, "GET", "/provision/nowhere/check", "")

	// An enterprise admin (acme) may neither generate a site nor read one
	// that is not acme's.
	var created struct{ Token string }
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`), &created)
	spec, err := os.ReadFile(bookExample)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/provision/sites", string(spec)},
		{"GET", "/provision/stanford1/check", ""},
	} {
		code, body, _, err := s.Do(context.Background(), r.method, r.path, r.body, "Authorization", "Bearer "+created.Token)
		if err != nil || code != 403 {
			t.Errorf("%s %s as acme's admin: %d %s (want 403)", r.method, r.path, code, body)
		}
	}

	// Rolling back the provisioning takes the whole site back at once
	// (after the hand edit of MGMT is undone).
	code, out, errOut = amp(t, s, "rollback", handEdit)
	if code != 0 {
		t.Fatalf("rollback of the hand edit: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = amp(t, s, "rollback", txn)
	if code != 0 {
		t.Fatalf("rollback %s: exit %d\n%s%s", txn, code, out, errOut)
	}
	s.Must(t, 404, "GET", site, "")
	s.Must(t, 404, "GET", "/inventory/v1.0.0/ip-address/10.0.0.1", "")

	// A site whose organization is acme's: acme's admin may check it.
	acmeSite := strings.NewReplacer("site: stanford1", "site: acme1", "organization: {id: stanford, display-name: Stanford University}",
		"organization: {id: acme-org, tenant: acme}", "block: 10.0.0.0/22", "block: 10.8.0.0/22", "'3c:ec:ef:", "'3c:ec:ee:").Replace(string(spec))
	file := filepath.Join(t.TempDir(), "acme1.yaml")
	if err := os.WriteFile(file, []byte(acmeSite), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := amp(t, s, "provision", "site", "-f", file); code != 0 {
		t.Fatalf("provision acme1: exit %d\n%s%s", code, out, errOut)
	}
	code, body, _, err := s.Do(context.Background(), "GET", "/provision/acme1/check", "", "Authorization", "Bearer "+created.Token)
	if err != nil || code != 200 || !strings.Contains(string(body), `"departures":[]`) {
		t.Errorf("acme's admin checks acme's site: %d %s", code, body)
	}
}

// problem is the API's error answer.
type problem struct {
	Status int
	Errors []struct{ Path, Reason string }
}

// TestProvisionSiteRefusals: a bad spec is refused with the spec's path
// and the reason and changes nothing, through the API and the CLI; a
// 500-device spec whose last device is bad leaves nothing behind.
func TestProvisionSiteRefusals(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none")
	y, err := os.ReadFile(bookExample)
	if err != nil {
		t.Fatal(err)
	}
	before := index(t, s)
	for _, c := range []struct{ from, to, path, reason string }{
		{"block: 10.0.0.0/22", "block: 10.0.0.0/23", "/block", "10.0.0.0/23 is a /23, not a /22"},
		{"{devname: enb1, role: radio", "{devname: enb1, role: router", "/devices/11/role", `unknown role "router"`},
		{"type: fabric-switch, rack: r1, position: 39", "type: fabric-switch, rack: r1, position: 40", "/devices/3/position", "unit 40 of rack r1 (front) is taken by /devices/2 (spine1)"},
		{"eth0: '3c:ec:ef:00:04:01'", "eth0: '3c:ec:ef:00:03:01'", "/devices/3/macs/eth0", "MAC 3c:ec:ef:00:03:01 is also /devices/2/macs/eth0's"},
	} {
		file := filepath.Join(t.TempDir(), "site.yaml")
		if err := os.WriteFile(file, []byte(strings.Replace(string(y), c.from, c.to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := amp(t, s, "provision", "site", "-f", file)
		if code != 1 || !strings.Contains(errOut, "  "+c.path+": "+c.reason) {
			t.Errorf("%s: exit %d\n%s%s", c.path, code, out, errOut)
		}
	}
	// The API's answer: problem+json naming the path.
	body := `{"site":"s1","organization":{"id":"o"},"domain":"example.net","block":"10.0.0.0/21","deployments":[{"name":"prod1","kind":"production"}],"devices":[]}`
	code, b, hdr, err := s.Do(context.Background(), "POST", "/provision/sites", body)
	var p problem
	if err != nil || code != 400 || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil ||
		len(p.Errors) != 1 || p.Errors[0].Path != "/block" || !strings.Contains(p.Errors[0].Reason, "not a /22") {
		t.Errorf("POST a /21: %d %s", code, b)
	}

	big := bigSpec(500, 0)
	big.Devices[499].MACs = map[string]string{"eth0": big.Devices[0].MACs["eth0"]}
	raw, _ := json.Marshal(big)
	code, b, _, err = s.Do(context.Background(), "POST", "/provision/sites", string(raw))
	p = problem{}
	if err != nil || code != 400 || json.Unmarshal(b, &p) != nil || len(p.Errors) != 1 || p.Errors[0].Path != "/devices/499/macs/eth0" {
		t.Errorf("500 devices, the last one bad: %d %.500s", code, b)
	}
	s.Must(t, 404, "GET", "/inventory/v1.0.0/site/big0", "")
	if after := index(t, s); after != before {
		t.Errorf("refused specs moved the index from %s to %s", before, after)
	}
	// The same 500 devices without the fault: one transaction.
	big.Devices[499].MACs = map[string]string{"eth0": "02:00:00:01:f3:01"}
	raw, _ = json.Marshal(big)
	s.Must(t, 200, "POST", "/provision/sites", string(raw))
	var devs []any
	json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/big0/device?limit=1000", ""), &devs)
	if len(devs) != 500 {
		t.Errorf("%d devices written, want 500", len(devs))
	}
}

// bigSpec is a site of n devices for site number k: with n <= 200 a
// management server and switch and, per deployment, four fabric switches
// and compute servers cabled to them; beyond that, devices of role other.
func bigSpec(n, k int) *conventions.Spec {
	one, zero := 1, 0
	s := &conventions.Spec{
		Site: fmt.Sprintf("big%d", k), Organization: conventions.Organization{ID: "bench"}, Domain: "example.net",
		Block:       fmt.Sprintf("10.%d.%d.0/22", 100+k/64, (k%64)*4),
		Deployments: []conventions.Deployment{{Name: "prod1", Kind: "production"}, {Name: "dev1", Kind: "development"}},
		DeviceTypes: []conventions.DeviceType{
			{ID: "bench-server", Manufacturer: "bench", Model: "S", UHeight: &one, Interfaces: []conventions.Interface{
				{Name: "eno1", Type: "1000base-t"}, {Name: "eno2", Type: "1000base-t"}, {Name: "eth0", Type: "1000base-t"},
				{Name: "bmc", Type: "1000base-t", MgmtOnly: true}, {Name: "qsfp0", Type: "40gbase-x-qsfpp"}, {Name: "qsfp1", Type: "40gbase-x-qsfpp"}}},
			{ID: "bench-switch", Manufacturer: "bench", Model: "W", UHeight: &one, Interfaces: []conventions.Interface{
				{Name: "gbe1", Type: "1000base-t"}, {Name: "eth0", Type: "1000base-t"}, {Name: "bmc", Type: "1000base-t"}}},
			{ID: "bench-other", Manufacturer: "bench", Model: "O", UHeight: &zero, Interfaces: []conventions.Interface{{Name: "eth0", Type: "1000base-t"}}},
		},
	}
	for i := 1; i <= 64; i++ {
		sw := &s.DeviceTypes[1]
		sw.Interfaces = append(sw.Interfaces, conventions.Interface{Name: fmt.Sprintf("p%d", i), Type: "100gbase-x-qsfp28"})
	}
	for r := 0; r < 6; r++ {
		s.Racks = append(s.Racks, conventions.Rack{ID: fmt.Sprintf("r%d", r)})
	}
	mac := func(i, j int) map[string]string {
		return map[string]string{"eth0": fmt.Sprintf("02:%02x:%02x:%02x:%02x:01", k/256, k%256, i/256, i%256), "bmc": fmt.Sprintf("02:%02x:%02x:%02x:%02x:02", k/256, k%256, i/256, i%256)}
	}
	add := func(d conventions.Device) {
		i := len(s.Devices)
		if d.Type != "bench-other" {
			d.Rack, d.Position = fmt.Sprintf("r%d", i/40), i%40+1
		}
		d.MACs = mac(i, 0)
		if d.Type == "bench-other" {
			delete(d.MACs, "bmc")
		}
		s.Devices = append(s.Devices, d)
	}
	if n > 200 {
		for i := 0; i < n; i++ {
			add(conventions.Device{Devname: fmt.Sprintf("other%d", i), Role: "other", Type: "bench-other"})
		}
		return s
	}
	add(conventions.Device{Devname: "mgmtserver1", Role: "management-server", Type: "bench-server"})
	add(conventions.Device{Devname: "mgmtswitch1", Role: "management-switch", Type: "bench-switch"})
	s.Cables = append(s.Cables, conventions.Cable{A: "mgmtserver1:eno2", B: "mgmtswitch1:p1", Type: "cat6"})
	per := (n - 2) / 2
	for _, dep := range []string{"prod1", "dev1"} {
		for l := 1; l <= 4; l++ {
			add(conventions.Device{Devname: fmt.Sprintf("leaf%d", l), Deployment: dep, Role: "fabric-switch", Type: "bench-switch"})
		}
		for i := 0; i < per-4; i++ {
			add(conventions.Device{Devname: fmt.Sprintf("node%d", i+1), Deployment: dep, Role: "compute-server", Type: "bench-server"})
			node := fmt.Sprintf("node%d.%s", i+1, dep)
			s.Cables = append(s.Cables,
				conventions.Cable{A: fmt.Sprintf("leaf%d.%s:p%d", 1+i%2, dep, i/2+1), B: node + ":qsfp0", Type: "dac-passive", Length: 1, LengthUnit: "m"},
				conventions.Cable{A: fmt.Sprintf("leaf%d.%s:p%d", 3+i%2, dep, i/2+1), B: node + ":qsfp1", Type: "dac-passive", Length: 1, LengthUnit: "m"})
		}
	}
	return s
}

// BenchmarkProvisionSite: POST /provision/sites of a 200-device site (two
// deployments, 380 cables, about 600 addresses) into a running `amp
// serve`, against the same run's baseline: the same objects (for
// another site) written as one plain merge PATCH of the set root. Target:
// <= 1 s end to end. Reports provision-ms, patch-ms and their ratio.
func BenchmarkProvisionSite(b *testing.B) {
	s := testenv.Start(b, b.TempDir(), "--adapters", "none")
	ctx := context.Background()
	post := func(path, method, body string) time.Duration {
		t0 := time.Now()
		code, out, _, err := s.Do(ctx, method, path, body)
		if err != nil || code != 200 {
			b.Fatalf("%s %s: %d %.300s %v", method, path, code, out, err)
		}
		return time.Since(t0)
	}
	var prov, patch time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		spec := bigSpec(200, 2*i)
		raw, _ := json.Marshal(spec)
		base := bigSpec(200, 2*i+1)
		gen, probs := conventions.Generate(base, &inventory.Inventory{IPs: map[string]*inventory.IPAddress{}})
		if probs != nil {
			b.Fatal(probs)
		}
		plain, _ := json.Marshal(map[string]any{"organization": []any{gen.Organization}, "manufacturer": gen.Manufacturers,
			"device-type": gen.DeviceTypes, "site": []any{gen.Site}, "ip-address": gen.IPs})
		b.StartTimer()
		prov += post("/provision/sites", "POST", string(raw))
		b.StopTimer()
		patch += post("/inventory/v1.0.0", "PATCH", string(plain))
	}
	b.ReportMetric(float64(prov.Milliseconds())/float64(b.N), "provision-ms")
	b.ReportMetric(float64(patch.Milliseconds())/float64(b.N), "patch-ms")
	b.ReportMetric(float64(prov)/float64(patch), "ratio")
}
