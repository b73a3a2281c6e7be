// Package rocapi is Aether's aether-roc-api compatibility layer: what ONF's
// aether-roc-api did beyond AMP's generic REST API, kept so that its
// clients (Aether's GUI, scripts written for it) work unchanged. It applies
// to the model sets whose descriptor says compat: [aether-roc-api] (Aether's
// own), and it joins the REST API by registering with internal/api/compat
// at init: cmd/amp imports it.
//
// It adds PATCH /aether-roc-api (Updates and Deletes of any number of
// enterprises as ONE transaction), GET /transactions in onos-config's shape,
// the OpenAPI documents at aether-roc-api's names, and, for its sets, the
// POST rule (every mandatory leaf sent or named in
// additionalProperties.unchanged), an enterprise id "undefined" answered
// 422, and the problem's "message" member. docs/conformance.md lists the
// rules and where AMP differs.
package rocapi

import (
	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// Name is the layer's name, as descriptors and the bulk route name it.
const Name = "aether-roc-api"

func init() {
	routes := []compat.Route{
		{Pattern: "PATCH /" + Name, Name: Name, Bulk: true, Handler: bulkPatch},
		{Pattern: "GET /transactions", Name: "transactions", Handler: listTransactions},
	}
	for _, p := range specDocuments {
		routes = append(routes, compat.Route{Pattern: "GET " + p, Name: "spec", Handler: specDocument})
	}
	compat.Register(compat.Layer{
		Name:                 Name,
		Routes:               routes,
		ProblemMessage:       true,
		AdditionalProperties: true,
		CheckPost:            checkUnchanged,
		CheckTenant:          checkTenant,
		GNMIDefault:          true,
		Spec:                 spec,
	})
}

// checkTenant answers an enterprise id of "undefined" (a bug of Aether's
// GUI sends it) with 422, as aether-roc-api does.
func checkTenant(path, tenant string) error {
	if tenant == "undefined" {
		return schema.Errorf(schema.KindUnprocessable, path, "enterprise id is \"undefined\"")
	}
	return nil
}
