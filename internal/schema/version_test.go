package schema_test

import (
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

// TestNewerVersion: the newest version of a set (references, the CLI's
// short paths, gNMI without use_models) is chosen by number, not text.
func TestNewerVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.1.0", "1.0.0", true},
		{"1.10.0", "1.9.0", true},
		{"1.9.0", "1.10.0", false},
		{"2.1.x", "2.0.0", true},
		{"1.0.0", "1.0.0", false},
		{"1.0.0.1", "1.0.0", true},
	} {
		if got := schema.NewerVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("NewerVersion(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
