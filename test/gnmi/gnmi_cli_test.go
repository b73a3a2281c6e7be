// Package gnmi_test drives the real `amp serve` binary with OpenConfig's
// reference gNMI client, gnmi_cli (installed by scripts/test-deps.sh into
// $(go env GOPATH)/bin).
//
// gnmi_cli cannot send a bearer token (it knows only username/password
// metadata, which AMP does not accept, and TLS client certificates), so the
// plaintext tests run the server with --gnmi-insecure-no-auth on loopback
// (anonymous made an operator with --gnmi-anonymous-groups),
// and the TLS test authenticates with a client certificate (mutual TLS).
package gnmi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// cli runs gnmi_cli to completion and returns its output and error.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.GNMICli(t), args...).CombinedOutput()
	return string(out), err
}

func mustCli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("gnmi_cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// proc is a long-running gnmi_cli (POLL and STREAM subscriptions).
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startCli(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(testenv.GNMICli(t), args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	return p
}

// waitFor waits until the output holds substr at least n times.
func (p *proc) waitFor(t *testing.T, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.String(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("gnmi_cli output has %q fewer than %d times:\n%s", substr, n, p.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const chicagoName = `prefix: {target: "acme"} path: {elem: {name: "site" key: {key: "site-id" value: "acme-chicago"}} elem: {name: "display-name"}}`

func setName(name string) string {
	return `prefix: {target: "acme"} update: {path: {elem: {name: "site" key: {key: "site-id" value: "acme-chicago"}} elem: {name: "display-name"}} val: {json_ietf_val: '"` + name + `"'}}`
}

var indexRE = regexp.MustCompile(`\\"index\\":(\d+)`)

// transaction reads a transaction through the REST API.
func transaction(t *testing.T, srv *testenv.Server, setOutput string) map[string]any {
	t.Helper()
	m := indexRE.FindStringSubmatch(setOutput)
	if m == nil {
		t.Fatalf("no transaction index (extension 110) in:\n%s", setOutput)
	}
	var rec map[string]any
	if err := json.Unmarshal(srv.Must(t, 200, "GET", "/transactions/"+m[1], ""), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func siteName(t *testing.T, srv *testenv.Server) string {
	var name string
	if err := json.Unmarshal(srv.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/display-name", ""), &name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestGNMICli(t *testing.T) {
	testenv.GNMICli(t)
	// anonymous has no rights unless named: here an operator.
	srv := testenv.Start(t, t.TempDir(), "--demo", "--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth",
		"--gnmi-anonymous-groups", "AetherROCAdmin")
	base := []string{"-address", srv.GNMIAddr(t), "-insecure"}
	args := func(a ...string) []string { return append(append([]string{}, base...), a...) }

	t.Run("Capabilities", func(t *testing.T) {
		out := mustCli(t, args("-capabilities")...)
		for _, want := range []string{`name: "onf-site"`, `name: "onf-application"`, "JSON_IETF", `gNMI_version: "0.10.0"`} {
			if !strings.Contains(out, want) {
				t.Errorf("no %s in:\n%s", want, out)
			}
		}
	})
	t.Run("Get", func(t *testing.T) {
		out := mustCli(t, args("-get", "-proto", chicagoName+" encoding: JSON_IETF")...)
		if !strings.Contains(out, `json_ietf_val: "\"Chicago plant\""`) || !strings.Contains(out, `target: "acme"`) {
			t.Errorf("Get:\n%s", out)
		}
		out, err := cli(t, args("-get", "-proto", `prefix: {target: "acme"} path: {elem: {name: "site" key: {key: "site-id" value: "nowhere"}}}`)...)
		if err == nil || !strings.Contains(out, "NotFound") || !strings.Contains(out, "nowhere") {
			t.Errorf("Get of a missing site: %v\n%s", err, out)
		}
	})
	t.Run("Set", func(t *testing.T) {
		out := mustCli(t, args("-set", "-proto", setName("Chicago via gnmi_cli"))...)
		if !strings.Contains(out, "op: UPDATE") || !strings.Contains(out, "id: 110") {
			t.Errorf("Set:\n%s", out)
		}
		if got := siteName(t, srv); got != "Chicago via gnmi_cli" {
			t.Errorf("REST reads %q after the gNMI Set", got)
		}
		rec := transaction(t, srv, out)
		if rec["source"] != "gnmi" || rec["username"] != "anonymous" {
			t.Errorf("transaction %v", rec)
		}
		out, err := cli(t, args("-set", "-proto", `prefix: {target: "acme"} update: {path: {elem: {name: "traffic-class" key: {key: "traffic-class-id" value: "class-1"}} elem: {name: "qci"}} val: {json_ietf_val: '"lots"'}}`)...)
		if err == nil || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, "qci") {
			t.Errorf("bad Set: %v\n%s", err, out)
		}
	})
	t.Run("SubscribeOnce", func(t *testing.T) {
		out := mustCli(t, args("-target", "acme", "-query_type", "once", "-display_type", "proto", "-query", "site[site-id=acme-chicago]/display-name")...)
		if !strings.Contains(out, `json_val: "\"Chicago via gnmi_cli\""`) || !strings.Contains(out, "sync_response: true") {
			t.Errorf("ONCE:\n%s", out)
		}
	})
	t.Run("SubscribePoll", func(t *testing.T) {
		// gnmi_cli polls only with its default (group) display.
		p := startCli(t, args("-target", "acme", "-query_type", "polling", "-polling_interval", "200ms", "-query", "traffic-class[traffic-class-id=class-2]/qci")...)
		p.waitFor(t, "TypedValue_JsonVal 7}", 2)
		srv.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/traffic-class/class-2", `{"qci":8}`, "Content-Type", "application/merge-patch+json")
		p.waitFor(t, "TypedValue_JsonVal 8}", 1)
	})
	t.Run("SubscribeStream", func(t *testing.T) {
		p := startCli(t, args("-target", "acme", "-query_type", "streaming", "-display_type", "proto", "-query", "site[site-id=acme-chicago]")...)
		p.waitFor(t, "sync_response: true", 1)
		srv.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago", `{"display-name":"Streamed to gnmi_cli"}`, "Content-Type", "application/merge-patch+json")
		p.waitFor(t, "Streamed to gnmi_cli", 1)
		srv.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/acme-chicago/small-cell/cell-2", "")
		p.waitFor(t, "delete: {", 1)
		if !strings.Contains(p.String()[strings.LastIndex(p.String(), "delete: {"):], `value: "cell-2"`) {
			t.Errorf("STREAM delete:\n%s", p)
		}
	})
}

// TestGNMICliMutualTLS runs gNMI over TLS with a client CA: gnmi_cli
// authenticates with a client certificate whose CN becomes the principal.
func TestGNMICliMutualTLS(t *testing.T) {
	testenv.GNMICli(t)
	pki := testenv.NewPKI(t)
	serverCrt, serverKey := pki.Issue(t, "amp", true)
	clientCrt, clientKey := pki.Issue(t, "gnmi-operator", false, "AetherROCAdmin") // OU = group: an operator
	files := map[string]string{"ca.crt": pki.CA, "server.crt": serverCrt, "server.key": serverKey, "client.crt": clientCrt, "client.key": clientKey}
	f := func(name string) string { return files[name] }
	srv := testenv.Start(t, t.TempDir(), "--demo", "--gnmi-listen", "127.0.0.1:0",
		"--gnmi-tls-cert", f("server.crt"), "--gnmi-tls-key", f("server.key"), "--gnmi-tls-client-ca", f("ca.crt"))
	addr := srv.GNMIAddr(t)

	out := mustCli(t, "-address", addr, "-ca_crt", f("ca.crt"), "-client_crt", f("client.crt"), "-client_key", f("client.key"),
		"-set", "-proto", setName("Chicago over mTLS"))
	rec := transaction(t, srv, out)
	if rec["username"] != "gnmi-operator" || rec["source"] != "gnmi" {
		t.Errorf("transaction %v", rec)
	}
	if got := siteName(t, srv); got != "Chicago over mTLS" {
		t.Errorf("REST reads %q", got)
	}
	// TLS without a client certificate (and no token): refused.
	out, err := cli(t, "-address", addr, "-ca_crt", f("ca.crt"), "-get", "-proto", chicagoName)
	if err == nil || !strings.Contains(out, "Unauthenticated") {
		t.Errorf("no credentials: %v\n%s", err, out)
	}
}

// TestGNMICliModelSets: the reference client reaches the global lab set
// (origin lab, no target) and the tenant workload set (origin workload,
// target = enterprise) loaded with --models.
func TestGNMICliModelSets(t *testing.T) {
	testenv.GNMICli(t)
	srv := testenv.Start(t, t.TempDir(), "--models", filepath.Join(testenv.RepoRoot(), "test", "testdata", "models"),
		"--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth", "--gnmi-anonymous-groups", "AetherROCAdmin")
	srv.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	base := []string{"-address", srv.GNMIAddr(t), "-insecure"}
	args := func(a ...string) []string { return append(append([]string{}, base...), a...) }

	out := mustCli(t, args("-capabilities")...)
	for _, want := range []string{`name: "amp-lab"`, `name: "amp-workload"`, `name: "onf-site"`} {
		if !strings.Contains(out, want) {
			t.Errorf("Capabilities: no %s in:\n%s", want, out)
		}
	}
	mustCli(t, args("-set", "-proto", `prefix: {origin: "lab"} update: {path: {elem: {name: "rack" key: {key: "rack-id" value: "r1"}}} val: {json_ietf_val: '{"rack-id":"r1","height":12}'}}`)...)
	mustCli(t, args("-set", "-proto", `prefix: {origin: "workload" target: "acme"} update: {path: {elem: {name: "deployment" key: {key: "deployment-id" value: "d1"}}} val: {json_ietf_val: '{"deployment-id":"d1","image":"nginx","rack":"r1"}'}}`)...)
	srv.Must(t, 200, "GET", "/workload/v1.0.0/acme/deployment/d1", "")

	out = mustCli(t, args("-get", "-proto", `prefix: {origin: "lab"} path: {elem: {name: "rack" key: {key: "rack-id" value: "r1"}} elem: {name: "height"}} encoding: JSON`)...)
	if !strings.Contains(out, `origin: "lab"`) || strings.Contains(out, "target:") || !strings.Contains(out, `json_val: "12"`) {
		t.Errorf("Get of a lab rack:\n%s", out)
	}
	out, err := cli(t, args("-get", "-proto", `prefix: {origin: "lab" target: "acme"} path: {elem: {name: "rack"}}`)...)
	if err == nil || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, "global") {
		t.Errorf("Get of a lab path with a target: %v\n%s", err, out)
	}
}
