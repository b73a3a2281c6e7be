package hints

import (
	"context"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// A site without its IMSI format is refused with the conventional value
// suggested, once this package is imported (as amp serve does).
func TestMissingFormatSuggestsTheConvention(t *testing.T) {
	eng, _ := testenv.Engine(t, true)
	set := eng.Schema().Set("aether", "2.1.x")
	loc, err := schema.Resolve(set, "acme", []string{"site", "s9"})
	if err != nil {
		t.Fatal(err)
	}
	site := map[string]any{"site-id": "s9", "imsi-definition": map[string]any{"mcc": "315", "mnc": "010", "enterprise": 1}}
	_, err = eng.Submit(context.Background(), &config.Request{Principal: "t", Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: site}}})
	if err == nil || !strings.Contains(err.Error(), `"format"`) || !strings.Contains(err.Error(), "Aether's conventional format is CCCNNNEEESSSSSS") {
		t.Fatalf("want the missing format refused with the convention suggested, got %v", err)
	}
	if Missing(set.Root.Child("site").Child("imsi-definition").Child("mcc")) != "" {
		t.Fatal("a hint for a leaf without a convention")
	}
}
