package edgeapi

import (
	"errors"
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
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

// clusterPath is the path of one of a cluster's edge routes, as the
// policy is asked about it and the audit trail records it.
func clusterPath(cluster, route string) string {
	return "/edge/v1/clusters/" + schema.EscapeSegment(cluster) + "/" + route
}

// renewCertificate serves POST /edge/v1/clusters/{cluster}/certificate
// (wire.RenewRequest → 201 wire.Credentials): authenticated by the
// cluster's current certificate, which stays valid until it expires. A
// revoked or expired certificate does not authenticate: its agent enrols
// again with a new token.
func renewCertificate(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("cluster")
	path := clusterPath(name, "certificate")
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
