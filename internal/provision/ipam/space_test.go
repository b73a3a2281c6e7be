package ipam

import (
	"net/netip"
	"reflect"
	"testing"
)

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestHostRange: NetBox's rule for the assignable addresses of a prefix.
func TestHostRange(t *testing.T) {
	for _, c := range []struct {
		p           string
		first, last string
		n           uint64
	}{
		{"10.0.0.0/24", "10.0.0.1", "10.0.0.254", 254},
		{"10.0.0.128/25", "10.0.0.129", "10.0.0.254", 126},
		{"10.0.0.4/30", "10.0.0.5", "10.0.0.6", 2},
		{"10.0.0.4/31", "10.0.0.4", "10.0.0.5", 2}, // RFC 3021: both usable
		{"10.0.0.7/32", "10.0.0.7", "10.0.0.7", 1},
	} {
		first, last, n := hostRange(netip.MustParsePrefix(c.p))
		if first.String() != c.first || last.String() != c.last || n != c.n {
			t.Errorf("hostRange(%s) = %s..%s (%d), want %s..%s (%d)", c.p, first, last, n, c.first, c.last, c.n)
		}
	}
}

// TestFreeBlocks: the largest aligned blocks no child prefix overlaps, in
// address order; a prefix around the parent is not its child.
func TestFreeBlocks(t *testing.T) {
	parent := netip.MustParsePrefix("10.0.0.0/24")
	used := prefixes(t, "10.0.0.0/26", "10.0.0.128/27", "10.0.0.0/22", "192.168.0.0/24", "10.0.0.0/24")
	got := freeBlocks(parent, used)
	want := prefixes(t, "10.0.0.64/26", "10.0.0.160/27", "10.0.0.192/26")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("freeBlocks = %v, want %v", got, want)
	}
	if got := freeBlocks(parent, nil); !reflect.DeepEqual(got, []netip.Prefix{parent}) {
		t.Errorf("freeBlocks of an empty parent = %v, want the parent", got)
	}
	for _, c := range []struct {
		bits int
		want string
	}{{26, "10.0.0.64/26"}, {27, "10.0.0.64/27"}, {25, ""}, {28, "10.0.0.64/28"}} {
		p, ok := firstFit(got, c.bits)
		if (c.want == "") == ok || ok && p.String() != c.want {
			t.Errorf("firstFit(/%d) = %v %v, want %q", c.bits, p, ok, c.want)
		}
	}
}
