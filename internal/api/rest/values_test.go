package rest

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestLeafrefValuesUnderNewEntries: a form's row inside entries not saved
// yet gets its leafref's choices, evaluated from the schema path with the
// existing ancestors as context: a device-group's member device (a list
// in a new device-group of an existing site) is offered that site's
// devices, a new site's device-group its enterprise's traffic classes;
// an enterprise admin sees only its own enterprise's choices and cannot
// ask under another's.
func TestLeafrefValuesUnderNewEntries(t *testing.T) {
	s := newSecured(t)
	alice, mallory := s.as("alice"), s.as("mallory")
	values := func(e *env, path string) []string {
		t.Helper()
		var got struct{ Values []string }
		if err := json.Unmarshal([]byte(e.want(200, "GET", path+"/values", "")), &got); err != nil {
			t.Fatal(err)
		}
		return got.Values
	}
	alice.want(200, "PATCH", "/aether/v2.1.x/acme", `{"traffic-class":[{"traffic-class-id":"acme-only","qci":9,"arp":9,"pdb":300,"pelr":6}]}`)

	// Two entries deep, neither saved: the existing site's devices.
	devices := values(alice, "/aether/v2.1.x/acme/site/acme-chicago/device-group/new-group/device/new-device/device-id")
	var site struct {
		Device []struct {
			ID string `json:"device-id"`
		}
	}
	if err := json.Unmarshal([]byte(alice.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago", "")), &site); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range site.Device {
		want = append(want, d.ID)
	}
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(devices, want) {
		t.Fatalf("a new group's member device is offered %v, want acme-chicago's devices %v", devices, want)
	}
	// A new site's new group: the enterprise's traffic classes.
	if got := values(alice, "/aether/v2.1.x/acme/site/new-site/device-group/new-group/traffic-class"); !slices.Contains(got, "acme-only") || !slices.Contains(got, "class-3") {
		t.Fatalf("a new site's group's traffic classes: %v", got)
	}
	if got := values(alice, "/aether/v2.1.x/acme/site/new-site/device-group/new-group/device/x/device-id"); len(got) != 0 {
		t.Fatalf("a new site has no devices to offer: %v", got)
	}
	// Tenants stay apart.
	if got := values(mallory, "/aether/v2.1.x/starbucks/site/new-site/device-group/new-group/traffic-class"); slices.Contains(got, "acme-only") || !slices.Contains(got, "class-3") {
		t.Fatalf("starbucks's member is offered %v", got)
	}
	mallory.want(404, "GET", "/aether/v2.1.x/acme/site/new-site/device-group/new-group/traffic-class/values", "")
	// Nothing was created by asking.
	alice.want(404, "GET", "/aether/v2.1.x/acme/site/new-site", "")
}
