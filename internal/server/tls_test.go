package server

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetupTransport(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	tr, err := setupTransport(Config{DataDir: dir, Listen: "127.0.0.1:0", GNMIListen: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "tls", "ca.crt")
	if tr.rest == nil || tr.caFile != ca || tr.gnmiCert != filepath.Join(dir, "tls", "server.crt") || tr.gnmiClientCA != ca {
		t.Fatalf("dev defaults: %+v", tr)
	}
	var hint bytes.Buffer
	tr.hint(&hint, "0.0.0.0:8181")
	if !strings.Contains(hint.String(), "export AMP_CA="+ca) || !strings.Contains(hint.String(), "https://127.0.0.1:8181/enterprises") {
		t.Fatalf("hint:\n%s", hint.String())
	}
	// Second start: no hint.
	tr, err = setupTransport(Config{DataDir: dir, Listen: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	hint.Reset()
	if tr.hint(&hint, "127.0.0.1:1"); hint.Len() != 0 {
		t.Fatalf("hint on the second start:\n%s", hint.String())
	}

	// Plaintext gNMI implied by --gnmi-insecure-no-auth; plain HTTP on loopback.
	tr, err = setupTransport(Config{DataDir: t.TempDir(), Listen: "[::1]:0", InsecureHTTP: true, GNMIListen: "localhost:0", GNMIInsecureNoAuth: true}, quiet)
	if err != nil || tr.rest != nil || tr.gnmiCert != "" || tr.dev != nil || tr.scheme() != "http" {
		t.Fatalf("insecure: %+v %v", tr, err)
	}
	// --insecure-http with gNMI TLS still creates the CA for gNMI.
	tr, err = setupTransport(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", InsecureHTTP: true, GNMIListen: "0.0.0.0:0"}, quiet)
	if err != nil || tr.rest != nil || tr.gnmiCert == "" || tr.dev == nil || tr.caFile != "" {
		t.Fatalf("insecure HTTP, gNMI TLS: %+v %v", tr, err)
	}

	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "0.0.0.0:8181", InsecureHTTP: true}, "--insecure-http is only allowed on a loopback"},
		{Config{Listen: "10.1.2.3:8181", InsecureHTTP: true}, "not 10.1.2.3:8181"},
		{Config{Listen: "nonsense"}, "--listen"},
		{Config{Listen: "127.0.0.1:0", TLSCert: "x"}, "go together"},
		{Config{Listen: "127.0.0.1:0", InsecureHTTP: true, TLSClientCA: "x"}, "cannot be combined"},
		{Config{Listen: "127.0.0.1:0", GNMIListen: "0.0.0.0:0", GNMIInsecurePlaintext: true}, "--gnmi-insecure-plaintext (plaintext gNMI) is only allowed on a loopback"},
		{Config{Listen: "127.0.0.1:0", GNMIListen: "127.0.0.1:0", GNMIInsecurePlaintext: true, GNMITLSCert: "a", GNMITLSKey: "b"}, "cannot be combined"},
		{Config{Listen: "127.0.0.1:0", GNMIListen: "127.0.0.1:0", GNMIInsecureNoAuth: true, GNMITLSClientCA: "ca"}, "needs TLS"},
		{Config{Listen: "127.0.0.1:0", TLSCert: "/nonexistent.crt", TLSKey: "/nonexistent.key"}, "REST TLS"},
	} {
		c.cfg.DataDir = t.TempDir()
		if _, err := setupTransport(c.cfg, quiet); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
