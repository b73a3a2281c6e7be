package main

// The CLI's Aether wing: what only Aether's models and aether-roc-api's
// conventions have. The SIM/device CSV import and export (import.go,
// export.go) work on Aether's sites, and PATCH /aether-roc-api carries the
// entries of the sets whose descriptor names its compatibility rules.
// Everything else learns the model sets from the server (modelsets.go).

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/aether/demo"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/server"

	// Aether's wing registers with the generic layers from its packages'
	// init: the aether-roc-api compatibility layer (internal/api/compat),
	// the SD-Core adapter (internal/component), the models' hints
	// (internal/config).
	_ "github.com/amp-edge/amp/internal/aether/hints"
	_ "github.com/amp-edge/amp/internal/aether/rocapi"
	_ "github.com/amp-edge/amp/internal/aether/sdcore"
)

// The model set the SIM/device import and export work on, embedded in
// this binary.
const (
	aetherSetName    = "aether"
	aetherSetVersion = "2.1.x"
)

// siteExample is the path the help texts of the generic commands show:
// Aether's, the set every amp binary embeds (amp serve --demo fills it).
const siteExample = "/aether/v2.1.x/acme/site"

// tenantPathsExample shows where an enterprise's objects are, in help texts.
const tenantPathsExample = "/aether/v2.1.x/<enterprise>/…"

// guiExample and guiAudienceExample name Aether's GUI in amp serve's help.
const (
	guiExample         = "Aether's GUI (docs/aether-gui.md)"
	guiAudienceExample = "aether-roc-gui for " + guiExample
)

// platformName is AMP's long name, after the platform the book describes.
const platformName = "Aether Management Platform"

// applyBulkExample is amp apply's example of an aether-roc-api body.
const applyBulkExample = `
    default-target: acme
    Updates:
      site-2.1.0:
        - site-id: acme-chicago
          upf:
            - upf-id: upf-2
              address: upf2.acme-chicago.local
              port: 8805
    Deletes:
      application-2.1.0:
        - application-id: acme-old`

// compatROC names aether-roc-api's rules in a descriptor's compat list:
// the entries of such a set can travel in PATCH /aether-roc-api.
const compatROC = "aether-roc-api"

// aetherSet returns the embedded Aether model set.
func aetherSet() (*schema.ModelSet, error) {
	s, err := loadSchema()
	if err != nil {
		return nil, fmt.Errorf("load the embedded models: %w", err)
	}
	set := s.Set(aetherSetName, aetherSetVersion)
	if set == nil {
		return nil, fmt.Errorf("this amp binary has no model set %s %s", aetherSetName, aetherSetVersion)
	}
	return set, nil
}

// aetherRoot is the REST path of an enterprise's Aether configuration.
func aetherRoot(ent string) string {
	return "/" + aetherSetName + "/v" + aetherSetVersion + "/" + url.PathEscape(ent)
}

// elementName is the PATCH /aether-roc-api element of a top-level list:
// "site" in model version 2.1.x is "site-2.1.0".
func elementName(list, version string) string {
	return list + "-" + strings.ReplaceAll(version, "x", "0")
}

// addTopLevel merges a PATCH /aether-roc-api body; entries without
// additionalProperties.enterprise-id get the document's default-target.
func addTopLevel(top *client.TopLevel, m map[string]any, where string) error {
	def, _ := m["default-target"].(string)
	for k, v := range m {
		switch k {
		case "default-target", "Extensions":
		case "Updates", "Deletes":
			sec, ok := v.(map[string]any)
			if !ok && v != nil {
				return fmt.Errorf("%s: %s must map element names (e.g. site-2.1.0) to lists of entries", where, k)
			}
			dst := top.Updates
			if k == "Deletes" {
				dst = top.Deletes
			}
			for elem, ev := range sec {
				items, ok := ev.([]any)
				if !ok {
					return fmt.Errorf("%s: %s/%s must be a list of entries", where, k, elem)
				}
				for i, it := range items {
					em, ok := it.(map[string]any)
					if !ok {
						return fmt.Errorf("%s: %s/%s[%d] must be an object", where, k, elem, i)
					}
					if def != "" {
						ap, _ := em["additionalProperties"].(map[string]any)
						if ap == nil {
							ap = map[string]any{}
							em["additionalProperties"] = ap
						}
						if _, ok := ap["enterprise-id"]; !ok {
							ap["enterprise-id"] = def
						}
					}
					dst[elem] = append(dst[elem], em)
				}
			}
		default:
			return fmt.Errorf("%s: unknown field %q in a top-level PATCH body (expected default-target, Updates, Deletes, Extensions)", where, k)
		}
	}
	return nil
}

// topLevelBody builds one PATCH /aether-roc-api body for assignments in
// several enterprises; missing mandatory leaves are named "unchanged".
func topLevelBody(asg []assignment) (*client.TopLevel, error) {
	top := &client.TopLevel{Updates: map[string][]any{}}
	trees := map[string]map[string]any{} // enterprise root path -> tree
	var order []string
	roots := map[string]*modelPath{}
	for _, as := range asg {
		if !as.set.HasCompat(compatROC) {
			return nil, fmt.Errorf("%s: assignments below several roots are one PATCH /%s, which takes only the sets with %s's rules, not %s; set %s separately", as.arg, compatROC, compatROC, as.set.Name, as.mp.root())
		}
		if as.value == nil {
			return nil, fmt.Errorf("%s: deleting (null) in a set spanning several enterprises is not supported; use amp delete", as.arg)
		}
		if as.steps[0].node.Kind != schema.List || as.steps[0].keys == nil {
			return nil, fmt.Errorf("%s: across enterprises only entries of the top-level lists can be set", as.arg)
		}
		r := as.mp.root()
		t, ok := trees[r]
		if !ok {
			t = map[string]any{}
			trees[r] = t
			roots[r] = as.mp
			order = append(order, r)
		}
		if err := place(t, as.steps, as.value); err != nil {
			return nil, fmt.Errorf("%s: %v", as.arg, err)
		}
	}
	for _, r := range order {
		mp := roots[r]
		for _, list := range mp.set.Root.Children {
			items, _ := trees[r][list.Name].([]any)
			for _, it := range items {
				addUnchanged(list, it)
				top.AddUpdate(elementName(list.Name, mp.set.Version), mp.enterprise, it.(map[string]any))
			}
		}
	}
	return top, nil
}

// demoData is the demo amp serve --demo loads (server.Config.DemoData).
var demoData server.DemoData = aetherDemo{}

// aetherDemo is the demo amp serve --demo loads: Aether's enterprises and
// sites (internal/aether/demo), with AMP's SD-Core and UPF emulators as
// their backends.
type aetherDemo struct{}

var _ server.DemoData = aetherDemo{}

func (aetherDemo) StartBackends(addr string) (server.DemoBackends, error) {
	b, err := demo.StartBackends(addr)
	if err != nil {
		return nil, err
	}
	return demoBackends{b}, nil
}

func (aetherDemo) Load(ctx context.Context, eng *config.Engine, b server.DemoBackends) (int, error) {
	var db *demo.Backends
	if b != nil {
		db = b.(demoBackends).Backends
	}
	return demo.Load(ctx, eng, db)
}

// demoBackends are the demo's emulators as the server sees them.
type demoBackends struct{ *demo.Backends }

func (b demoBackends) Address() netip.AddrPort { return b.Addr }

func (b demoBackends) Banner() string {
	return fmt.Sprintf("\nThe demo's SD-Cores and UPFs are AMP's emulators, in-process on %s\n(--demo-backends=false turns them off). What acme-chicago's core holds:\n  curl -s %s/v1/network-slice/video\n\n",
		b.URL, b.Core("acme-chicago"))
}
