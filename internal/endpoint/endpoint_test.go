package endpoint

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseURL(t *testing.T) {
	good := map[string]string{
		"http://core.example:5000/config/": "http://core.example:5000/config",
		"https://UPF.Example/":             "https://upf.example",
		"http://[2001:db8::1]:8080/config": "http://[2001:db8::1]:8080/config",
	}
	for in, want := range good {
		got, err := ParseURL(in)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"ftp://core/x":                   "scheme",
		"file:///etc/passwd":             "scheme",
		"http://user:pw@core/config":     "user information",
		"http://core/config#":            "fragment",
		"http://core/config#x":           "fragment",
		"http://core/config?x=1":         "query",
		"http://core/config?":            "query",
		"http:core":                      "host",
		"http://:80/":                    "host",
		"http://core:0/":                 "port",
		"http://core:70000/":             "port",
		"gopher://169.254.169.254/":      "scheme",
		"http://169.254.169.254/latest#": "fragment",
	}
	for in, want := range bad {
		if _, err := ParseURL(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v; want an error about the %s", in, err, want)
		}
	}
}

func TestNetworkRefusesSpecialRangesUnlessAllowed(t *testing.T) {
	allow, err := ParsePrefixes([]string{"10.1.0.0/16", "192.168.7.7"})
	if err != nil {
		t.Fatal(err)
	}
	n := NewNetwork(allow, nil)
	n.AllowExact(netip.MustParseAddrPort("127.0.0.1:8190"))
	for _, a := range []string{"127.0.0.1:80", "127.0.0.1:8191", "[::1]:80", "169.254.169.254:80", "[fd00:ec2::254]:80",
		"10.2.0.1:80", "192.168.7.8:80", "[::ffff:127.0.0.1]:80", "[fe80::1]:80", "[fe80::1%lo]:80", "0.0.0.0:80", "100.64.0.1:80", "255.255.255.255:80"} {
		if err := n.Check(netip.MustParseAddrPort(a)); !errors.Is(err, ErrAddressRefused) {
			t.Errorf("%s: %v; want refused", a, err)
		}
	}
	for _, a := range []string{"127.0.0.1:8190", "[::ffff:127.0.0.1]:8190", "10.1.2.3:80", "192.168.7.7:443", "8.8.8.8:443", "[2001:4860::1]:443"} {
		if err := n.Check(netip.MustParseAddrPort(a)); err != nil {
			t.Errorf("%s: %v; want allowed", a, err)
		}
	}
	if _, err := ParsePrefixes([]string{"not-a-net"}); err == nil {
		t.Error("a bad --backend-allow-net value was accepted")
	}
}

// The check runs on the address actually dialled: a name that resolves to
// loopback is refused at connect time (DNS rebinding), and a redirect is
// not followed.
func TestHTTPClientChecksTheDialledAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n := NewNetwork(nil, nil)
	c := n.HTTPClient(5 * time.Second)
	if _, err := c.Get("http://localhost:" + port + "/"); !errors.Is(err, ErrAddressRefused) {
		t.Fatalf("a name resolving to loopback: %v; want refused at connect", err)
	}
	n.AllowExact(netip.MustParseAddrPort(srv.Listener.Addr().String()))
	resp, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect: status %d; want the 302 itself, not followed", resp.StatusCode)
	}
	if _, err := n.DialContext(context.Background(), "tcp", "127.0.0.2:"+port); !errors.Is(err, ErrAddressRefused) {
		t.Fatalf("gRPC dialer: %v; want refused", err)
	}
}

func TestRegistryGrants(t *testing.T) {
	r := NewRegistry(nil)
	if err := r.Check("acme", Core, "http://core.acme:5000/config"); err == nil || !strings.Contains(err.Error(), "granted it none") {
		t.Fatalf("empty registry: %v", err)
	}
	err := r.Load([]byte(`backends:
- {name: acme-core, kind: core, url: "http://core.acme:5000/config/", enterprises: [acme]}
- {name: sb-core, kind: core, url: "http://core.starbucks:5000/config", enterprises: [starbucks]}
- {name: shared-upf, kind: upf, url: "http://upf.shared:8080", enterprises: [starbucks, acme]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check("acme", Core, "http://core.acme:5000/config"); err != nil {
		t.Fatalf("granted: %v", err)
	}
	err = r.Check("acme", Core, "http://core.starbucks:5000/config")
	if err == nil || strings.Contains(err.Error(), "starbucks-") || !strings.Contains(err.Error(), "it may choose http://core.acme:5000/config") {
		t.Fatalf("another enterprise's core: %v", err)
	}
	if strings.Contains(err.Error(), "sb-core") {
		t.Fatalf("the refusal names another enterprise's backend: %v", err)
	}
	if err := r.Check("acme", Core, "http://upf.shared:8080"); err == nil {
		t.Fatal("a upf backend was accepted as a core")
	}
	if !r.Shared(UPF, "http://upf.shared:8080") || r.Shared(Core, "http://core.acme:5000/config") {
		t.Fatal("Shared")
	}
	for _, bad := range []string{
		`backends: [{name: a, kind: core, url: "http://x#"}]`,
		`backends: [{name: a, kind: nope, url: "http://x"}]`,
		`backends: [{name: a, kind: core, url: "http://x"}, {name: a, kind: upf, url: "http://y"}]`,
		`backends: [{name: a, kind: core, url: "http://x"}, {name: b, kind: core, url: "http://x/"}]`,
		`backends: [{name: a, kind: core, url: "http://x", enterprise: [acme]}]`,
	} {
		if err := r.Load([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := r.Check("acme", Core, "http://core.acme:5000/config"); err != nil {
		t.Fatalf("a refused file changed the grants: %v", err)
	}
}

func TestRegistryWatchReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backends.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`backends: [{name: c, kind: core, url: "http://c1", enterprises: [acme]}]`)
	r := NewRegistry(nil)
	reports := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Watch(ctx, path, 10*time.Millisecond, func(_ string, err error) { reports <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-reports; err != nil {
		t.Fatal(err)
	}
	write(`backends: [{name: c, kind: core, url: "http://c2", enterprises: [acme]}]`)
	if err := <-reports; err != nil {
		t.Fatal(err)
	}
	if r.Check("acme", Core, "http://c2") != nil || r.Check("acme", Core, "http://c1") == nil {
		t.Fatal("the reload did not replace the grants")
	}
	write(`backends: [{name: c, kind: core, url: "ftp://c3", enterprises: [acme]}]`)
	if err := <-reports; err == nil {
		t.Fatal("a bad file reported no error")
	}
	if r.Check("acme", Core, "http://c2") != nil {
		t.Fatal("a bad file changed the grants")
	}
}

func TestReasonIsBoundedAndPrintable(t *testing.T) {
	got := Reason([]byte("secret:\x1b[31mred\x1b[0m\r\n\tnext\x00\xff line"))
	if got != "secret:[31mred[0m next line" {
		t.Fatalf("Reason = %q", got)
	}
	long := Reason([]byte(strings.Repeat("é", 1000)))
	if len(long) > MaxReason+len("…") || !utf8.ValidString(long) || !strings.HasSuffix(long, "…") {
		t.Fatalf("long reason: %d bytes, %q…", len(long), long[:10])
	}
	e := &BackendError{Op: "POST http://c/x", Status: "500 Internal Server Error", Detail: "db password is hunter2"}
	if strings.Contains(e.Error(), "hunter2") || !strings.Contains(e.LogValue().String(), "hunter2") {
		t.Fatalf("Error %q / LogValue %q", e.Error(), e.LogValue())
	}
}

func TestRegistryChangedSignalsEachChange(t *testing.T) {
	r := NewRegistry(nil)
	ch := r.Changed()
	select {
	case <-ch:
		t.Fatal("signalled before any change")
	default:
	}
	if err := r.Load([]byte(`backends: [{name: c, kind: core, url: "http://c", enterprises: [acme]}]`)); err != nil {
		t.Fatal(err)
	}
	<-ch // closed by the load
	next := r.Changed()
	if err := r.Load([]byte(`backends: [{name: c, kind: nope, url: "http://c"}]`)); err == nil {
		t.Fatal("bad file loaded")
	}
	select {
	case <-next:
		t.Fatal("a refused file signalled a change")
	default:
	}
}
