package rest

import "testing"

// Only exact origins are accepted for --allow-cors-origin.
func TestCheckCORSOrigins(t *testing.T) {
	for _, ok := range []string{"http://localhost:4200", "https://gui.example.com", "https://gui.example.com:8443"} {
		if err := CheckCORSOrigins([]string{ok}); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"*", "localhost:4200", "https://gui.example.com/", "https://gui.example.com/app", "ftp://x", "https://*.example.com?x", "https://u:p@gui.example.com", ""} {
		if err := CheckCORSOrigins([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
