package web

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// budget is the portal's JavaScript, compressed (issue 15).
const budget = 300 << 10

// TestBuiltBundleFitsItsBudget reads the portal embedded in this build:
// it must exist (scripts/test runs `make portal` first), name only its own
// hashed assets (what the browser loads at run time is checked in
// Chromium: test/e2e/portal_test.go), and keep its JavaScript within
// budget once gzip-compressed.
func TestBuiltBundleFitsItsBudget(t *testing.T) {
	dist := Dist()
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		t.Fatalf("web/dist/index.html is missing: run `make portal` before testing (scripts/test does): %v", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) == 0 {
		t.Fatalf("index.html loads nothing:\n%s", index)
	}
	for _, m := range refs {
		name, ok := strings.CutPrefix(m[1], "/portal/assets/")
		if !ok {
			t.Errorf("index.html loads %q: only the portal's own assets are allowed", m[1])
			continue
		}
		if _, err := fs.Stat(dist, "assets/"+name); err != nil {
			t.Errorf("index.html names %s, which the build did not write", m[1])
		}
	}
	if bytes.Contains(index, []byte("<script>")) || bytes.Contains(index, []byte(" style=")) {
		t.Errorf("index.html holds inline script or style, which the CSP refuses:\n%s", index)
	}
	js, err := fs.Glob(dist, "assets/*.js")
	if err != nil || len(js) == 0 {
		t.Fatalf("no JavaScript in web/dist/assets (%v)", err)
	}
	total := 0
	for _, f := range js {
		b, err := fs.ReadFile(dist, f)
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		_, _ = w.Write(b)
		_ = w.Close()
		total += z.Len()
	}
	t.Logf("portal JavaScript: %.1f KiB gzip-compressed in %d file(s), budget %d KiB", float64(total)/1024, len(js), budget>>10)
	if total > budget {
		t.Errorf("the portal's JavaScript is %d bytes compressed, over its budget of %d", total, budget)
	}
}
