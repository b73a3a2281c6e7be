package inventory

import "testing"

// Cable numbers and node names sort as a technician reads them.
func TestNaturalLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{
		{"c2", "c10", true},
		{"c10", "c2", false},
		{"node2", "node10", true},
		{"a", "b", true},
		{"c1", "c1a", true},
		{"c007", "c8", true},                    // leading zeros do not count
		{"n99999999999", "n100000000000", true}, // longer than an int: by length
		{"x", "x", false},
	} {
		if got := NaturalLess(c.a, c.b); got != c.less {
			t.Errorf("NaturalLess(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
