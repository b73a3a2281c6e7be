// Package rendertest runs the real tools on rendered artifacts written
// under a directory (as amp provision render writes them): netplan
// generate, kea-dhcp4 -t, named-checkzone and named-checkconf -z. The
// render package's tests and the end-to-end tests share it. A missing tool
// fails the test: scripts/test-deps.sh installs them.
package rendertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tool finds a validator; a missing one fails the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p, err := exec.LookPath("/usr/sbin/" + name); err == nil {
		return p
	}
	t.Fatalf("%s is not installed (scripts/test-deps.sh installs it)", name)
	return ""
}

// Netplan runs netplan generate on each file of dir/netplan in a root of
// its own (etc/netplan/<file>, mode 0600) and returns the files it
// generated, keyed "<file>:<generated file>" (10-netplan-eth0.network, …).
func Netplan(t testing.TB, dir string) map[string]string {
	t.Helper()
	np := Tool(t, "netplan")
	files, _ := filepath.Glob(filepath.Join(dir, "netplan", "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no netplan files under %s", dir)
	}
	out := map[string]string{}
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		etc := filepath.Join(root, "etc", "netplan")
		if err := os.MkdirAll(etc, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, filepath.Base(f)), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(np, "generate", "--root-dir", root).CombinedOutput(); err != nil {
			t.Fatalf("netplan generate refused %s: %v\n%s\n%s", f, err, b, content)
		}
		gen, _ := filepath.Glob(filepath.Join(root, "run", "systemd", "network", "*"))
		for _, g := range gen {
			b, _ := os.ReadFile(g)
			out[filepath.Base(f)+":"+filepath.Base(g)] = string(b)
		}
	}
	return out
}

// Kea runs kea-dhcp4 -t on dir/dhcp/kea-dhcp4.json.
func Kea(t testing.TB, dir string) {
	t.Helper()
	kea := Tool(t, "kea-dhcp4")
	if b, err := exec.Command(kea, "-t", filepath.Join(dir, "dhcp", "kea-dhcp4.json")).CombinedOutput(); err != nil {
		t.Fatalf("kea-dhcp4 -t refused the DHCP configuration: %v\n%s", err, b)
	}
}

// Zones runs named-checkzone on every zone dir/dns/named.conf lists and
// named-checkconf -z on named.conf (which loads them all); it returns the
// zones' names.
func Zones(t testing.TB, dir string) []string {
	t.Helper()
	checkzone, checkconf := Tool(t, "named-checkzone"), Tool(t, "named-checkconf")
	dnsDir := filepath.Join(dir, "dns")
	conf, err := os.ReadFile(filepath.Join(dnsDir, "named.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	lines := strings.Split(string(conf), "\n")
	for i, line := range lines {
		zone, ok := strings.CutPrefix(line, "zone \"")
		if !ok || i+2 >= len(lines) {
			continue
		}
		zone = zone[:strings.IndexByte(zone, '"')]
		file, ok := strings.CutPrefix(strings.TrimSpace(lines[i+2]), "file \"")
		if !ok {
			t.Fatalf("named.conf: zone %s has no file line: %q", zone, lines[i+2])
		}
		file = strings.TrimSuffix(file, "\";")
		cmd := exec.Command(checkzone, zone, file)
		cmd.Dir = dnsDir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("named-checkzone %s %s refused it: %v\n%s", zone, file, err, b)
		}
		zones = append(zones, zone)
	}
	cmd := exec.Command(checkconf, "-z", "named.conf")
	cmd.Dir = dnsDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("named-checkconf -z refused named.conf: %v\n%s", err, b)
	}
	return zones
}
