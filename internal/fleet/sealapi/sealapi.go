// Package sealapi is the "seal" layer of the REST API (docs/lifecycle.md,
// "Sealed secrets"): a cluster's sealing certificate for operators and
// `amp seal --fetch-cert`, the renewal of its key, the 30-day renewal
// service and the keys' metrics. The fleet model set's descriptor names
// the layer; it brings internal/fleet/sealkeys (the keys, the
// sealed-secret source of the agent link, the manifests' commit rule)
// into the binary. Private keys are never answered: only certificates.
package sealapi

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet/sealkeys"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/telemetry"
)

// Name is the layer's name, as the fleet set's descriptor names it.
const Name = "seal"

func init() {
	component.RegisterService(component.Service{Name: "fleet-seal-keys", New: func(env component.Env) func(ctx context.Context) error {
		sealkeys.Bind(env.Engine)
		env.Metrics.MustRegister(&collector{eng: env.Engine})
		// Renewals and their failures go to amp serve's log (stderr, JSON);
		// amp_seal_key_age_seconds above 30 days says renewal is failing.
		return (&sealkeys.Keyring{Eng: env.Engine, Log: telemetry.NewLogger(os.Stderr)}).Run
	}})
	compat.Register(compat.Layer{Name: Name, Routes: []compat.Route{
		{Pattern: "GET /clusters/{name}/seal-key", Name: "seal-key", Handler: getKey},
		{Pattern: "POST /clusters/{name}/seal-key/renew", Name: "seal-key", Handler: renewKey},
	}, Spec: spec})
}

// cluster authorizes action on the inventory cluster the request names
// and returns its id, or the refusal (404 for a cluster not declared, once
// the caller may know).
func cluster(h compat.Host, r *http.Request, action auth.Action) (string, error) {
	id := r.PathValue("name")
	inv := h.Schema().Set("inventory", "")
	if inv == nil {
		return "", schema.Errorf(schema.KindNotFound, r.URL.Path, "the inventory model set is not loaded: there are no clusters")
	}
	path := schema.RESTBase(inv) + "/cluster/" + schema.EscapeSegment(id)
	if err := h.Authorize(r, action, path); err != nil {
		return "", err
	}
	if _, ok := h.Engine().Snapshot().Get(schema.RootKey(inv, "") + "/cluster/" + schema.EscapeSegment(id)); !ok {
		return "", schema.Errorf(schema.KindNotFound, path, "cluster %q is not declared", id)
	}
	return id, nil
}

func keyring(h compat.Host) *sealkeys.Keyring { return &sealkeys.Keyring{Eng: h.Engine()} }

// getKey serves GET /clusters/{name}/seal-key: the active certificate
// (PEM), for whoever may read the cluster. The cluster's first key is
// made on the first request.
func getKey(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, err := cluster(h, r, auth.Read)
	if err != nil {
		return err
	}
	k, err := keyring(h).Active(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Seal-Key-Fingerprint", k.Fingerprint)
	w.Header().Set("X-Seal-Key-Created", k.Created.UTC().Format(time.RFC3339))
	_, err = w.Write(k.Cert)
	return err
}

// renewKey serves POST /clusters/{name}/seal-key/renew: a new active key
// now, for whoever may write the cluster (operators); the old keys keep
// unsealing.
func renewKey(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, err := cluster(h, r, auth.Write)
	if err != nil {
		return err
	}
	h.Touch(r, sealkeys.EntryPath(sealkeys.Set(h.Schema()), id)+"/seal-key")
	k, err := keyring(h).Renew(r.Context(), id, "renewed on request")
	if err != nil {
		return err
	}
	keys, err := keyring(h).Keys(h.Engine().Snapshot(), id)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"cluster": id, "fingerprint": k.Fingerprint,
		"created": k.Created.UTC().Format(time.RFC3339), "keys": len(keys)})
}

// collector reports the keys at each scrape, read from the store: every
// replica reports the same.
type collector struct{ eng *config.Engine }

var (
	keysDesc = prometheus.NewDesc("amp_seal_keys", "Sealing keys AMP holds for the cluster (every one unseals; the newest seals).", []string{"cluster"}, nil)
	ageDesc  = prometheus.NewDesc("amp_seal_key_age_seconds", "Age of the cluster's active sealing key (renewed at 30 days).", []string{"cluster"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- keysDesc; ch <- ageDesc }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.eng.Snapshot()
	kr := &sealkeys.Keyring{Eng: c.eng}
	for _, id := range sealkeys.Clusters(sealkeys.Set(c.eng.Schema()), snap) {
		keys, err := kr.Keys(snap, id)
		if err != nil || len(keys) == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(len(keys)), id)
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, time.Since(keys[0].Created).Seconds(), id)
	}
}

var spec = &compat.Spec{Paths: func(b compat.SpecBuilder, sets []*schema.ModelSet) {
	if len(sets) == 0 {
		return
	}
	tag := b.Tag("fleet", "")
	param := openapi3.NewPathParameter("name").WithSchema(openapi3.NewStringSchema())
	param.Description = "The inventory cluster's id."
	get := &openapi3.Operation{Tags: []string{tag}, OperationID: b.OpID("getClusterSealKey"), Summary: "A cluster's sealing certificate",
		Description: "The active sealing certificate (PEM) of the cluster, for amp seal and kubeseal --cert; the first request makes the cluster's first key. " +
			"Whoever may read the cluster. Headers X-Seal-Key-Fingerprint and X-Seal-Key-Created name the key.",
		Responses: openapi3.NewResponses()}
	get.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The certificate.").
		WithContent(openapi3.Content{"application/x-pem-file": &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}}})})
	b.Errors(get, false, false)
	b.Doc().Paths.Set("/clusters/{name}/seal-key", &openapi3.PathItem{Parameters: openapi3.Parameters{{Value: param}}, Get: get})
	renew := &openapi3.Operation{Tags: []string{tag}, OperationID: b.OpID("renewClusterSealKey"), Summary: "Renew a cluster's sealing key",
		Description: "A new active key now (also made every 30 days); the cluster's older keys keep unsealing. Whoever may write the cluster.",
		Responses:   openapi3.NewResponses()}
	renew.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The new key.").WithJSONSchemaRef(&openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{
		"cluster": compat.Str("The cluster."), "fingerprint": compat.Str("The new key's fingerprint."),
		"created": compat.Str("When it was made."), "keys": compat.Described(openapi3.NewIntegerSchema(), "How many keys the cluster has."),
	}, "cluster", "fingerprint")})})
	b.Errors(renew, true, false)
	b.Doc().Paths.Set("/clusters/{name}/seal-key/renew", &openapi3.PathItem{Parameters: openapi3.Parameters{{Value: param}}, Post: renew})
}}
