package schema_test

import (
	"net/url"
	"strings"
	"testing"
)

// routeBenchPaths are what the authorizer is asked about most: model
// paths of several depths, and AMP's own routes.
var routeBenchPaths = []string{
	"/aether/v2.1.x/acme/site/s1/device/d1",
	"/aether/v2.1.x/starbucks/application/app1/endpoint/e1",
	"/enterprises/acme",
	"/transactions",
	"/lab/v1.0.0/rack/r1",
	"/state/aether/v2.1.x/acme/site/s1",
}

// BenchmarkParseRoute compares the one parser with the one it replaced on
// the request path (policy.ParsePath, kept below as baselineParsePath so
// that both are measured in the same run):
//
//	go test -run '^$' -bench ParseRoute -count 6 ./internal/schema/
func BenchmarkParseRoute(b *testing.B) {
	sch := routeSchema(b)
	b.Run("ParseRoute", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := sch.ParseRoute(routeBenchPaths[i%len(routeBenchPaths)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-policy.ParsePath", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			baselineParsePath(routeBenchPaths[i%len(routeBenchPaths)])
		}
	})
}

// baselineParsePath is internal/policy's ParsePath as it was before
// ParseRoute replaced it (commit d60589c): the benchmark's baseline only.
func baselineParsePath(p string) (kind, set, version, enterprise string, canonical bool) {
	slashed := p + "/"
	canonical = !strings.Contains(slashed, "/../") && !strings.Contains(slashed, "/./")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) == 0 || segs[0] == "" {
		return "other", "", "", "", canonical
	}
	unescape := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	model := func(kind string, s []string) (string, string, string, string, bool) {
		if len(s) < 2 || len(s[1]) < 2 || s[1][0] != 'v' {
			if kind == "state" {
				return kind, "", "", "", canonical
			}
			return "other", "", "", "", canonical
		}
		ent := ""
		if len(s) >= 3 {
			ent = unescape(s[2])
		}
		return kind, s[0], s[1][1:], ent, canonical
	}
	switch segs[0] {
	case "state":
		return model("state", segs[1:])
	case "enterprises":
		if len(segs) >= 2 && segs[1] != "" {
			return "enterprise", "", "", unescape(segs[1]), canonical
		}
		return "enterprises", "", "", "", canonical
	case "transactions", "sync-status", "audit", "admin", "targets", "spec", "diff", "watch", "search", "metrics", "aether-roc-api":
		return segs[0], "", "", "", canonical
	}
	return model("model", segs)
}
