package verify

import (
	"sort"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string // canonical form when ok
		dev  bool
	}{
		{"1.2.3", true, "1.2.3", false},
		{"0.0.0", true, "0.0.0", false},
		{"3.2.4-dev", true, "3.2.4-dev", true},
		{"3.2.4-dev.2", true, "3.2.4-dev.2", true},
		{"1.0.0-rc.1+git.abc-1", true, "1.0.0-rc.1+git.abc-1", false},
		{"1.0.0+20260101", true, "1.0.0+20260101", false},
		{"1.0.0-0A.is.legal", true, "1.0.0-0A.is.legal", false},
		{"1.0.0-x-y-z.--", true, "1.0.0-x-y-z.--", false},
		{"1.0.0+001", true, "1.0.0+001", false}, // leading zeros are fine in build metadata
		{"v1.2.3", false, "", false},
		{"1.2", false, "", false},
		{"1.2.3.4", false, "", false},
		{"01.2.3", false, "", false},
		{"1.02.3", false, "", false},
		{"1.2.3-01", false, "", false},
		{"1.2.3-", false, "", false},
		{"1.2.3-a..b", false, "", false},
		{"1.2.3+", false, "", false},
		{"1.2.3-a_b", false, "", false},
		{"1.-2.3", false, "", false},
		{"", false, "", false},
		{"a.b.c", false, "", false},
	} {
		v, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseVersion(%q): err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (v.String() != tc.want || v.Dev() != tc.dev) {
			t.Errorf("ParseVersion(%q) = %s dev=%v, want %s dev=%v", tc.in, v, v.Dev(), tc.want, tc.dev)
		}
	}
}

func TestParseTag(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"v1.2.3", true}, {"1.2.3", true}, {"v1.2.3-rc.1", true}, {"release-1.2.3", false}, {"vv1.2.3", false}, {"latest", false}} {
		if _, ok := ParseTag(tc.name); ok != tc.ok {
			t.Errorf("ParseTag(%q) ok=%v, want %v", tc.name, ok, tc.ok)
		}
	}
}

// TestPrecedence checks semver.org §11's own example chain and the rules
// it states: numeric fields compare numerically, a pre-release ranks below
// its release, numeric identifiers rank below alphanumeric ones, and build
// metadata does not count.
func TestPrecedence(t *testing.T) {
	chain := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1-dev", "1.0.1", "1.9.0", "1.10.0", "2.0.0-dev", "2.0.0", "10.0.0",
	}
	for i := range chain {
		for j := range chain {
			a, b := must(t, chain[i]), must(t, chain[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0+build.1", "1.0.0+build.2", 0},
		{"1.0.0-1", "1.0.0-alpha", -1},
		{"1.0.0-2", "1.0.0-10", -1},
		{"1.0.0-dev", "1.0.0-dev.1", -1},
		{"1.0.0-Z", "1.0.0-a", -1}, // ASCII order: upper case first
	} {
		if got := must(t, tc.a).Compare(must(t, tc.b)); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	shuffled := []Version{must(t, "1.0.0"), must(t, "1.0.0-rc.1"), must(t, "0.9.9"), must(t, "1.0.0-alpha")}
	sort.Slice(shuffled, func(i, j int) bool { return shuffled[i].Compare(shuffled[j]) < 0 })
	if got := shuffled[0].String() + " " + shuffled[3].String(); got != "0.9.9 1.0.0" {
		t.Errorf("sorted ends = %s, want 0.9.9 1.0.0", got)
	}
}

func must(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
