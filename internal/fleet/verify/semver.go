package verify

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a semantic version (semver.org 2.0.0): MAJOR.MINOR.PATCH with an
// optional pre-release (-dev, -rc.1) and build metadata (+git.abc), which
// ordering ignores.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // dot-separated pre-release identifiers
	Build               string
}

// ParseVersion parses s strictly: no leading "v", no leading zeros in numeric
// identifiers, no empty identifiers (semver.org §2, §9, §10).
func ParseVersion(s string) (Version, error) {
	var v Version
	rest := s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		v.Build = rest[i+1:]
		rest = rest[:i]
		if err := identifiers(v.Build, false); err != nil {
			return Version{}, fmt.Errorf("%q: build metadata: %v", s, err)
		}
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		if err := identifiers(pre, true); err != nil {
			return Version{}, fmt.Errorf("%q: pre-release: %v", s, err)
		}
		v.Pre = strings.Split(pre, ".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", s)
	}
	nums := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := numeric(p)
		if err != nil {
			return Version{}, fmt.Errorf("%q: %s: %v", s, [...]string{"MAJOR", "MINOR", "PATCH"}[i], err)
		}
		*nums[i] = n
	}
	return v, nil
}

// ParseTag parses a release tag name: a version with an optional "v" prefix.
func ParseTag(name string) (Version, bool) {
	v, err := ParseVersion(strings.TrimPrefix(name, "v"))
	return v, err == nil
}

func numeric(p string) (uint64, error) {
	if p == "" {
		return 0, fmt.Errorf("empty")
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", p)
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", p)
		}
	}
	return strconv.ParseUint(p, 10, 64)
}

// identifiers checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// pre-release identifiers must not have leading zeros.
func identifiers(s string, pre bool) error {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return fmt.Errorf("empty identifier")
		}
		allDigits := true
		for _, c := range id {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				allDigits = false
			default:
				return fmt.Errorf("%q: only [0-9A-Za-z-] allowed", id)
			}
		}
		if pre && allDigits && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("%q has a leading zero", id)
		}
	}
	return nil
}

// String gives the canonical form.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Dev reports whether v is an in-development version: its first pre-release
// identifier is "dev" or starts with it (3.2.4-dev, 3.2.4-dev.2, 3.2.4-dev1).
func (v Version) Dev() bool {
	return len(v.Pre) > 0 && strings.HasPrefix(v.Pre[0], "dev")
}

// Compare orders versions by precedence (semver.org §11): -1, 0 or 1. Build
// metadata does not count.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			return cmpUint(d[0], d[1])
		}
	}
	// A version without pre-release ranks above one with it (§11.3).
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := compareIdentifier(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	// A larger set of identifiers ranks higher when all before are equal (§11.4.4).
	return cmpUint(uint64(len(v.Pre)), uint64(len(w.Pre)))
}

// compareIdentifier: numeric identifiers compare numerically and rank below
// alphanumeric ones, which compare in ASCII order (§11.4.1-3).
func compareIdentifier(a, b string) int {
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		return cmpUint(an, bn)
	case aerr == nil:
		return -1
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
