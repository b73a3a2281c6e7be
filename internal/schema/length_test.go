package schema_test

import (
	"strings"
	"testing"
)

// TestStringLengthBounds: a string's length is checked against its
// type's bounds, both inclusive (aether-identifier: 1..63).
func TestStringLengthBounds(t *testing.T) {
	typ := node(t, aether(t), "site/site-id").Type
	for s, ok := range map[string]bool{
		"a":                           true,
		"a" + strings.Repeat("b", 62): true,
		"a" + strings.Repeat("b", 63): false,
		"":                            false,
	} {
		_, err := typ.Parse(s)
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "length") {
			t.Errorf("%d characters: %v", len(s), err)
		}
	}
}
