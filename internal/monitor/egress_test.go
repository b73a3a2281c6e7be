package monitor

import (
	"strings"
	"testing"
)

// TestEgressRefusesInternalAddresses: an enterprise's receiver aimed at
// AMP's host, a private network, link-local or the cloud's metadata
// service is refused, in every spelling of the address, unless the
// operator allowed it; public hosts pass.
func TestEgressRefusesInternalAddresses(t *testing.T) {
	var none Egress
	for _, c := range []struct{ url, reason string }{
		{"http://127.0.0.1:9093/hook", "loopback"},
		{"http://[::1]/hook", "loopback"},
		{"http://[::ffff:127.0.0.1]/hook", "loopback"},
		{"http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"},
		{"http://[fd00:ec2::254]/", "unique-local"},
		{"http://10.1.2.3/hook", "private"},
		{"http://192.168.1.1/hook", "private"},
		{"http://0.0.0.0:8080/", "this-network"},
		{"http://localhost:8080/hook", "names the host itself"},
		{"http://LocalHost./hook", "names the host itself"},
		{"http://api.localhost/hook", "names the host itself"},
		{"http://metadata.google.internal/computeMetadata/v1/", "metadata"},
		{"http://2130706433/hook", "numeric host"},
		{"http://0x7f.1/hook", "numeric host"},
		{"http://0177.0.0.1/hook", "numeric host"},
		{"http://127.1/hook", "numeric host"},
	} {
		why := none.CheckURL(c.url)
		if !strings.Contains(why, c.reason) {
			t.Errorf("%s: %q, want a refusal saying %q", c.url, why, c.reason)
		}
	}
	for _, ok := range []string{"https://hooks.slack.com/services/T0/B0/x", "http://203.0.113.7:8080/hook", "https://hooks.acme.example/amp", "https://cafe.example/", "http://[2001:db8::1]/"} {
		if why := none.CheckURL(ok); why != "" {
			t.Errorf("%s refused: %s", ok, why)
		}
	}
	if why := none.CheckSmarthost("127.0.0.1:25"); !strings.Contains(why, "loopback") {
		t.Errorf("a loopback smarthost: %q", why)
	}
	if why := none.CheckSmarthost("smtp.example.com:587"); why != "" {
		t.Errorf("a public smarthost: %q", why)
	}

	var allow Egress
	for _, v := range []string{"127.0.0.1", "10.20.0.0/16,hooks.corp.internal", "Localhost"} {
		if err := allow.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:9/hook", "http://10.20.3.4/hook", "http://hooks.corp.internal/x", "http://localhost:1/"} {
		if why := allow.CheckURL(ok); why != "" {
			t.Errorf("%s refused although allowed: %s", ok, why)
		}
	}
	for _, refused := range []string{"http://127.0.0.2/hook", "http://10.21.0.1/hook", "http://169.254.169.254/"} {
		if why := allow.CheckURL(refused); why == "" || !strings.Contains(why, "--alert-webhook-allow") {
			t.Errorf("%s passed (or no hint of the flag): %q", refused, why)
		}
	}
	for _, bad := range []string{"http://x/", "10.0.0.0/33", "a b", ""} {
		var e Egress
		if err := e.Set(bad); err == nil {
			t.Errorf("--alert-webhook-allow %q accepted", bad)
		}
	}
}
