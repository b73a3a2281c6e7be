package main

// The CLI's Aether wing: what only Aether's models and aether-roc-api's
// conventions have. The SIM/device CSV import and export (import.go,
// export.go) work on Aether's sites, and PATCH /aether-roc-api carries the
// entries of the sets whose descriptor names its compatibility rules.
// Everything else learns the model sets from the server (modelsets.go).

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/amp-edge/amp/internal/schema"
)

// The model set the SIM/device import and export work on, embedded in
// this binary.
const (
	aetherSetName    = "aether"
	aetherSetVersion = "2.1.x"
)

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
