package gnmipush

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

func TestConfigAndPaths(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "push.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	for _, bad := range []struct{ yaml, why string }{
		{"push:\n- name: a\n  address: x:1\n", "needs name, address and source"},
		{"push:\n- name: a\n  address: x:1\n  source: /aether/v2.1.x/acme\n  cert: c.pem\n", "cert and key go together"},
		{"push:\n- name: a\n  adress: x:1\n", "unknown field"},
	} {
		if _, err := LoadConfig(write(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("%q: %v, want %q", bad.yaml, err, bad.why)
		}
	}
	cfg, err := LoadConfig(write("push:\n- name: site\n  address: 127.0.0.1:9339\n  source: /aether/v2.1.x/acme/site/s1\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(sch, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := a.pushes["gnmi/site"]
	if r.Origin != "aether" || r.Target != "acme" || len(r.remote.Elem) != 1 || r.remote.Elem[0].Key["site-id"] != "s1" {
		t.Fatalf("resolved %+v %v", r.Push, r.remote)
	}
	if w := a.Watches(); len(w) != 1 || w[0] != "aether/2.1.x/acme/site/s1" {
		t.Fatalf("watches %v", w)
	}
	for _, src := range []string{"/aether/v2.1.x/acme/site", "/aether/v2.1.x/acme/site/s1/upf/u1/port", "/nope/v1/x"} {
		if _, err := New(sch, &Config{Push: []Push{{Name: "x", Address: "a:1", Source: src}}}, nil); err == nil {
			t.Errorf("source %s accepted", src)
		}
	}
	p, err := parsePath("/site[site-id=a/b]/slice[slice-id=x]/mbr")
	if err != nil || len(p.Elem) != 3 || p.Elem[0].Key["site-id"] != "a/b" || p.Elem[2].Name != "mbr" {
		t.Fatalf("parsePath: %v %v", p, err)
	}
}
