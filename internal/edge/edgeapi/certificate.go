package edgeapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/schema"
)

// certificateRoutes serve the renewal of an agent's certificate
// (docs/agent.md, "Enrolment and identity").
func certificateRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "POST /edge/v1/clusters/{cluster}/certificate", Name: "edge-certificate", Handler: renewCertificate},
	}
}

// renewCertificate serves POST /edge/v1/clusters/{cluster}/certificate
// (wire.RenewRequest → 201 wire.Credentials): authenticated by the
// cluster's current certificate, which stays valid until it expires. A
// revoked or expired certificate does not authenticate: its agent enrols
// again with a new token.
func renewCertificate(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("cluster")
	path := edge.LinkPath(name) + "/certificate"
	if err := h.Authorize(r, auth.Write, path); err != nil {
		return err
	}
	authority, err := ca.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	// The policy lets operators reach every route; a renewal is the
	// agent's own, proven by the certificate it renews.
	if p := auth.FromContext(r.Context()); p == nil || p.Via != "mtls" || p.Name != ca.Principal(name).Name {
		return schema.Errorf(schema.KindForbidden, path, "a renewal is authenticated by cluster %q's current agent certificate (TLS client certificate); an operator enrols an agent with a registration token instead (amp cluster token)", name)
	}
	body, dry, err := h.ReadObject(r, `{"csr": "-----BEGIN CERTIFICATE REQUEST-----…"}`)
	if err != nil {
		return err
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "a renewal has nothing to preview")
	}
	for k := range body {
		if k != "csr" {
			return schema.Errorf(schema.KindInvalid, "/"+k, "unknown field %q (send {\"csr\": \"…\"})", k)
		}
	}
	s, isStr := body["csr"].(string)
	if !isStr && body["csr"] != nil {
		return schema.Errorf(schema.KindInvalid, "/csr", "csr is a string: a PEM \"CERTIFICATE REQUEST\"")
	}
	csr, err := ca.ParseCSR(s)
	if err != nil {
		authority.Metrics().Refused(ca.RefusedCSR)
		return err
	}
	h.Touch(r, path)
	iss, err := authority.Renew(name, ca.Serial(r), csr)
	switch {
	case errors.Is(err, ca.ErrNotDeclared):
		return schema.Errorf(schema.KindNotFound, path, "cluster %q is not declared", name)
	case errors.Is(err, ca.ErrNotValid):
		return &schema.Error{Kind: schema.KindUnauthenticated, Message: "renewal refused", Problems: []schema.Problem{{Path: path, Reason: err.Error()}}}
	case err != nil:
		return err
	}
	return h.WriteJSON(w, http.StatusCreated, authority.Credentials(iss))
}

// SchemaCredentials is the component schema of wire.Credentials, what an
// enrolment (POST /clusters/register, the provision layer) and a renewal
// answer.
const SchemaCredentials = "EdgeCredentials"

// certificateSchemas adds the credentials' schema before any layer's
// paths, so that the provision layer's enrolment refers to it too.
func certificateSchemas(b compat.SpecBuilder) {
	str := compat.Str
	b.AddSchema(SchemaCredentials, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"cluster":          str("The cluster (the certificate's CN)."),
		"certificate":      str("The PEM client certificate AMP signed."),
		"ca":               str("The PEM certificate of AMP's agent CA."),
		"server-ca":        str("The PEM CA of AMP's serving certificate, when AMP runs its local CA: the agent pins it."),
		"not-after":        compat.Described(openapi3.NewDateTimeSchema(), "When the certificate expires."),
		"renew-at":         compat.Described(openapi3.NewDateTimeSchema(), "When the agent renews it: two thirds into its lifetime."),
		"serial":           str("The certificate's serial (hex)."),
		"checkin-interval": str("How often the agent checks in, a Go duration (\"30s\")."),
		"server-time":      compat.Described(openapi3.NewDateTimeSchema(), "AMP's clock, for the agent's clock-skew report."),
	}, "cluster", "certificate", "ca", "not-after", "renew-at", "serial", "checkin-interval", "server-time"),
		"An edge agent's credentials: its client certificate and what goes with it (docs/agent.md)."))
}

// certificatePaths documents the renewal.
func certificatePaths(b compat.SpecBuilder, clusterID *openapi3.ParameterRef) {
	o := operation(b, tagEdge, "renewAgentCertificate", "An agent renews its certificate",
		"Authenticated by the cluster's current certificate (TLS client certificate, no token), which stays valid until it expires. "+
			"A revoked or expired certificate does not authenticate (401, with the reason): the agent enrols again with a new token. "+
			"Operators cannot renew in an agent's place (403).")
	o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("A CSR for the agent's key.").
		WithJSONSchema(compat.Obj(map[string]*openapi3.Schema{
			"csr": compat.Str("A PEM CERTIFICATE REQUEST: ECDSA P-256/P-384 or RSA of at least 2048 bits."),
		}, "csr"))}
	answer(o, "201", "Renewed.", b.Ref(SchemaCredentials))
	for _, s := range []int{400, 401, 403, 404, 500} {
		o.Responses.Set(strconv.Itoa(s), b.Problem(s))
	}
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/certificate", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID}, Post: o})
}
