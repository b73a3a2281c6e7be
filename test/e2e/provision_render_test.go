package e2e

// Zero-touch artifacts through the real binary (issue 11, part 4): an
// inventory site built through REST renders netplan, Kea and BIND files
// that the real tools accept; amp provision render writes them and says
// what changed; a change re-renders exactly the artifacts it affects; the
// site's tenant admin may read them, another tenant may not.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/provision/render/rendertest"
	"github.com/amp-edge/amp/internal/testenv"
)

// loadRenderSite creates the render package's example site (1 management
// server, 1 management switch, 2 compute servers, their VLANs, prefixes,
// addresses and MACs) through REST: the lists, then each device's primary
// address.
func loadRenderSite(t *testing.T, s *testenv.Server) {
	t.Helper()
	raw, err := os.ReadFile("../../internal/provision/render/testdata/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, list := range []string{"organization", "manufacturer", "device-type", "site", "ip-address"} {
		s.Must(t, 201, "POST", "/inventory/v1.0.0/"+list, string(fx[list]))
	}
	var primary map[string]string
	if err := json.Unmarshal(fx["primary-ip"], &primary); err != nil {
		t.Fatal(err)
	}
	for dev, ip := range primary {
		s.Must(t, 200, "PATCH", "/inventory/v1.0.0/site/stanford1/device/"+dev, `{"primary-ip":"`+ip+`"}`)
	}
}

type artifactList struct {
	Site      string
	Index     uint64
	Artifacts []struct {
		Name, SHA256 string
		ContentType  string `json:"content-type"`
		Size         int
		Changed      *bool
	}
	Removed []string
}

func listArtifacts(t *testing.T, s *testenv.Server, query string) artifactList {
	t.Helper()
	var l artifactList
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/provision/stanford1/artifacts"+query, ""), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// mustAmp runs the amp binary against s and fails the test on an error.
func mustAmp(t *testing.T, s *testenv.Server, args ...string) string {
	t.Helper()
	out, err := ampCLI(t, []string{"AMP_SERVER=" + s.URL, "AMP_TOKEN=" + s.Token, "AMP_CA=" + s.CA}, args...)
	if err != nil {
		t.Fatalf("amp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestProvisionRenderArtifacts(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loadRenderSite(t, s)

	// The listing: every kind, each entry's hash and size those of the
	// content served, with its kind's Content-Type.
	l := listArtifacts(t, s, "")
	if l.Site != "stanford1" || l.Index == 0 || len(l.Artifacts) < 14 {
		t.Fatalf("listing: %+v", l)
	}
	types := map[string]string{"netplan/node1.yaml": "application/yaml", "dhcp/kea-dhcp4.json": "application/json",
		"dns/stanford1.aetherproject.net.zone": "text/dns", "dns/named.conf": "text/plain; charset=utf-8"}
	for _, a := range l.Artifacts {
		code, body, hdr, err := s.Do(ctx, "GET", "/provision/stanford1/artifacts/"+a.Name, "")
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v %s", a.Name, code, err, body)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != a.SHA256 || len(body) != a.Size || hdr.Get("Content-Type") != a.ContentType ||
			hdr.Get("ETag") != `"sha256:`+a.SHA256+`"` {
			t.Errorf("%s: listed %s/%d/%s, served %x/%d/%s etag %s", a.Name, a.SHA256, a.Size, a.ContentType, sum, len(body), hdr.Get("Content-Type"), hdr.Get("ETag"))
		}
		if want, ok := types[a.Name]; ok && a.ContentType != want {
			t.Errorf("%s: Content-Type %s, want %s", a.Name, a.ContentType, want)
		}
		delete(types, a.Name)
	}
	if len(types) != 0 {
		t.Errorf("not listed: %v", types)
	}
	s.Must(t, 404, "GET", "/provision/stanford1/artifacts/netplan/nothing.yaml", "")
	s.Must(t, 404, "GET", "/provision/nowhere/artifacts", "")

	// amp provision render writes them; the real tools accept them.
	dir := t.TempDir()
	out := mustAmp(t, s, "provision", "render", "stanford1", dir)
	if strings.Count(out, "created ") != len(l.Artifacts) || !strings.Contains(out, "0 unchanged") {
		t.Fatalf("first render:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "netplan", "node1.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("netplan/node1.yaml: %v %v (want mode 0600)", fi, err)
	}
	gen := rendertest.Netplan(t, dir)
	if nw := gen["node2.yaml:10-netplan-eth0.network"]; !strings.Contains(nw, "Address=10.0.0.133/25") || !strings.Contains(nw, "Gateway=10.0.0.129") {
		t.Errorf("node2's eth0:\n%s", nw)
	}
	rendertest.Kea(t, dir)
	if zones := rendertest.Zones(t, dir); len(zones) != 9 {
		t.Errorf("zones: %v", zones)
	}
	// Nothing changed: nothing written.
	if out := mustAmp(t, s, "provision", "render", "stanford1", dir); strings.Contains(out, "created") || strings.Contains(out, "updated") ||
		!strings.Contains(out, strconv.Itoa(len(l.Artifacts))+" unchanged") {
		t.Fatalf("second render:\n%s", out)
	}

	// node2's eth0 gets a new NIC: its netplan, the DHCP reservations, its
	// Ansible variables and the iPXE menu (which boots it by MAC) change,
	// nothing else.
	before := l.Index
	s.Must(t, 200, "PATCH", "/inventory/v1.0.0/site/stanford1/device/node2/interface/eth0", `{"mac-address":"52:54:00:00:04:99"}`)
	want := []string{"ansible/host_vars/node2.prod1.stanford1.aetherproject.net.yml", "dhcp/kea-dhcp4.json", "ipxe/menu.ipxe", "netplan/node2.yaml"}
	since := listArtifacts(t, s, "?since="+strconv.FormatUint(before, 10))
	var changed []string
	for _, a := range since.Artifacts {
		if a.Changed == nil {
			t.Fatalf("%s: no changed member with ?since=", a.Name)
		}
		if *a.Changed {
			changed = append(changed, a.Name)
		}
	}
	if strings.Join(changed, ",") != strings.Join(want, ",") || len(since.Removed) != 0 {
		t.Fatalf("changed since %d: %v removed %v, want %v", before, changed, since.Removed, want)
	}
	out = mustAmp(t, s, "provision", "render", "stanford1", "--since", strconv.FormatUint(before, 10))
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("--since output lacks %s:\n%s", w, out)
		}
	}
	if strings.Contains(out, "node1.yaml") || !strings.Contains(out, "4 of ") {
		t.Errorf("--since output:\n%s", out)
	}
	out = mustAmp(t, s, "provision", "render", "stanford1", dir)
	var updated []string
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "updated "); ok {
			rel, _ := filepath.Rel(dir, p)
			updated = append(updated, filepath.ToSlash(rel))
		}
	}
	sort.Strings(updated)
	if strings.Join(updated, ",") != strings.Join(want, ",") {
		t.Fatalf("third render updated %v, want %v:\n%s", updated, want, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "netplan", "node2.yaml")); !bytes.Contains(b, []byte("52:54:00:00:04:99")) {
		t.Errorf("node2.yaml after the change:\n%s", b)
	}
	rendertest.Kea(t, dir)

	// --prune removes what the site no longer renders from the artifact
	// directories, and nothing else of DIR.
	for _, f := range []string{"netplan/gone.yaml", "ansible/host_vars/gone.yml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(f)), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out = mustAmp(t, s, "provision", "render", "stanford1", dir, "--prune")
	for _, f := range []string{"netplan/gone.yaml", "ansible/host_vars/gone.yml"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(out, "removed "+filepath.Join(dir, filepath.FromSlash(f))) {
			t.Errorf("%s after --prune: %v\n%s", f, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil || !strings.Contains(out, "2 removed") {
		t.Errorf("--prune touched a file outside the artifact directories: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "netplan", "node2.yaml")); err != nil {
		t.Errorf("--prune removed a rendered artifact: %v", err)
	}

	// The site's tenant (acme) admin may read; starbucks' may not.
	acme, _ := apiToken(t, s, "acme-ops", "enterprise-admin", "acme")
	if code, b, _, _ := s.Do(ctx, "GET", "/provision/stanford1/artifacts", "", "Authorization", "Bearer "+acme); code != 200 {
		t.Errorf("acme's admin reading its site's artifacts: %d %s", code, b)
	}
	if code, b, _, _ := s.Do(ctx, "GET", "/provision/stanford1/artifacts/dhcp/kea-dhcp4.json", "", "Authorization", "Bearer "+acme); code != 200 {
		t.Errorf("acme's admin reading an artifact: %d %s", code, b)
	}
	sb, _ := apiToken(t, s, "sb-ops", "enterprise-admin", "starbucks")
	for _, p := range []string{"/provision/stanford1/artifacts", "/provision/stanford1/artifacts/dhcp/kea-dhcp4.json"} {
		if code, b, _, _ := s.Do(ctx, "GET", p, "", "Authorization", "Bearer "+sb); code != 403 && code != 404 {
			t.Errorf("starbucks' admin reading %s: %d %s", p, code, b)
		}
	}

	// An inventory the renderers cannot use is answered with the path and
	// the reason.
	s.Must(t, 201, "POST", "/inventory/v1.0.0/site/stanford1/device/node1/interface", `[{"name":"vlan5","type":"virtual","parent":"eth0"}]`)
	code, b, _, _ := s.Do(ctx, "GET", "/provision/stanford1/artifacts", "")
	var p struct {
		Errors []struct{ Path, Reason string }
	}
	if code != 409 || json.Unmarshal(b, &p) != nil || len(p.Errors) != 1 ||
		p.Errors[0].Path != "/inventory/v1.0.0/site/stanford1/device/node1/interface/vlan5/untagged-vlan" {
		t.Fatalf("a VLAN interface without a VLAN: %d %s", code, b)
	}
}
