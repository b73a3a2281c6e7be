package openapi

import (
	"regexp"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/api/compat"
	// The inventory set is built in, and its descriptor names the
	// provision layer, which registers by import as in amp serve (cmd/amp
	// imports it).
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	// The fleet set is built in too; its descriptor names the fleet layer.
	_ "github.com/amp-edge/amp/internal/fleet/fleetapi"
	_ "github.com/amp-edge/amp/internal/fleet/sealapi"
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// TestProvisionLayerDocumented: every route the provision layer serves is
// an operation of the document, with a success answer and the problem
// answers; it needs a credential unless the route is public (the
// cluster agent's registration), and the document names no provision
// route the layer does not serve.
func TestProvisionLayerDocumented(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Build(sch, "dev")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := compat.For(sch)
	if err != nil {
		t.Fatal(err)
	}
	var routes []compat.Route
	for _, l := range layers {
		if l.Name == "provision" {
			routes = l.Routes
		}
	}
	if len(routes) < 19 {
		t.Fatalf("the provision layer serves %d routes, want at least 19", len(routes))
	}
	// ServeMux's {name...} and the document's {site-id} alike.
	params := regexp.MustCompile(`\{[^}]*\}`)
	shape := func(p string) string { return params.ReplaceAllString(p, "{}") }
	documented := map[string]string{} // shape → template
	for p := range doc.Paths.Map() {
		documented[shape(p)] = p
	}
	served := map[string]bool{}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		served[method+" "+shape(path)] = true
		tmpl, ok := documented[shape(path)]
		if !ok {
			t.Errorf("%s: no path of the document", rt.Pattern)
			continue
		}
		op := doc.Paths.Value(tmpl).GetOperation(method)
		if op == nil {
			t.Errorf("%s: %s has no %s operation", rt.Pattern, tmpl, method)
			continue
		}
		if op.Responses.Status(200) == nil && op.Responses.Status(201) == nil {
			t.Errorf("%s: no success answer", rt.Pattern)
		}
		for _, code := range []int{400, 401, 404, 500} {
			if op.Responses.Status(code) == nil {
				t.Errorf("%s: answer %d undocumented", rt.Pattern, code)
			}
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != rt.Public {
			t.Errorf("%s: documented public=%v, served public=%v", rt.Pattern, public, rt.Public)
		}
		if op.Summary == "" || len(op.Tags) == 0 {
			t.Errorf("%s: no summary or tag", rt.Pattern)
		}
	}
	// The edge layer serves the clusters' link status beside them, the
	// seal layer their sealing keys.
	for _, l := range layers {
		if l.Name == "edge" || l.Name == "seal" {
			for _, rt := range l.Routes {
				method, path, _ := strings.Cut(rt.Pattern, " ")
				served[method+" "+shape(path)] = true
			}
		}
	}
	for p, item := range doc.Paths.Map() {
		if !strings.HasPrefix(p, "/provision/") && !strings.HasPrefix(p, "/clusters/") && !strings.Contains(p, "/available-") {
			continue
		}
		for method := range item.Operations() {
			if !served[method+" "+shape(p)] {
				t.Errorf("the document names %s %s, which the layer does not serve", method, p)
			}
		}
	}
}
