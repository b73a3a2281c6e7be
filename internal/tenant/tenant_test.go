package tenant

import (
	"strings"
	"testing"
)

func TestReserved(t *testing.T) {
	for id, want := range map[string]string{
		"acme":             "",
		"admin":            "",
		"admin-acme":       "",
		"acme-admins":      "",
		"ampere":           "",
		"acme-admin":       `"-admin"`,
		"amp-state-writer": `"amp-"`,
		"amp-suspended":    `"amp-"`,
		"amp-x":            `"amp-"`,
	} {
		got := Reserved(id)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("Reserved(%q) = %q, want it to mention %q", id, got, want)
		}
	}
}

func TestWellFormed(t *testing.T) {
	for id, want := range map[string]bool{"acme": true, "a1-b2": true, "": false, "Acme": false, "a--b": false, "a-": false,
		"amp:operator": false, strings.Repeat("a", MaxLen): true, strings.Repeat("a", MaxLen+1): false} {
		if WellFormed(id) != want {
			t.Errorf("WellFormed(%q) != %v", id, want)
		}
	}
}
