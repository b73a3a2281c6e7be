package rocapi

import (
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

func aether(t *testing.T) *schema.Schema {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// Aether's GUI sends "undefined" for an enterprise it has not chosen;
// aether-roc-api answered 422, naming the path.
func TestUndefinedTenantIs422(t *testing.T) {
	err := checkTenant("/aether/v2.1.x/undefined/site", "undefined")
	if schema.KindOf(err) != schema.KindUnprocessable || !strings.Contains(err.Error(), "undefined") {
		t.Fatalf("got %v", err)
	}
	if err := checkTenant("/aether/v2.1.x/acme/site", "acme"); err != nil {
		t.Fatalf("acme refused: %v", err)
	}
}

// Element names of the bulk PATCH: <top-level list>-<model version>, with
// the x of the set's version as any patch level.
func TestElementSet(t *testing.T) {
	sch := aether(t)
	set, list, why := elementSet(sch, "site-2.1.0")
	if set == nil || set.Name != "aether" || list.Name != "site" {
		t.Fatalf("site-2.1.0: %v %v %s", set, list, why)
	}
	for name, want := range map[string]string{
		"site":                  "element names are <list>-<model version>",
		"nosuch-2.1.0":          "no top-level list nosuch in model set aether 2.1.x",
		"enterprises-2.0.0":     "model version 2.0.0 is not loaded",
		"connectivity-services": "model version services is not loaded",
	} {
		if set, _, why := elementSet(sch, name); set != nil || !strings.Contains(why, want) {
			t.Errorf("%s: set %v, reason %q, want %q", name, set, why, want)
		}
	}
	if got := rocVersion("2.1.x"); got != "2.1.0" {
		t.Errorf("rocVersion(2.1.x) = %s", got)
	}
}

// POST's rule: every mandatory leaf of every object sent is in the body or
// named in additionalProperties.unchanged; each missing one is named.
func TestCheckUnchanged(t *testing.T) {
	site := aether(t).Set("aether", "2.1.x").Root.Child("site")
	imsi := map[string]any{"mcc": "315", "mnc": "010", "enterprise": 1}
	err := checkUnchanged(site, map[string]any{"site-id": "s1", "imsi-definition": imsi}, "/aether/v2.1.x/acme/site/s1", false)
	if err == nil || !strings.Contains(err.Error(), "/aether/v2.1.x/acme/site/s1/imsi-definition/format") {
		t.Fatalf("a missing format: %v", err)
	}
	imsi[schema.ExtraKey] = map[string]any{"unchanged": "format"}
	if err := checkUnchanged(site, map[string]any{"site-id": "s1", "imsi-definition": imsi}, "/aether/v2.1.x/acme/site/s1", false); err != nil {
		t.Fatalf("format named unchanged: %v", err)
	}
}
