// Package rest serves AMP's REST API. The model routes are derived from the
// loaded YANG schema at start-up, never written per model: one handler
// resolves any /{set}/v{version}/{tenant}/… path against the schema. A
// set's compatibility layer (internal/api/compat, named in its descriptor)
// adds its routes and rules; the API itself offers GET /targets, /spec,
// POST merge, PUT, per-resource merge PATCH,
// paging and filters, leafref /values, ETag/If-Match, dry runs, history,
// diff, rollback and point-in-time reads.
//
// Every request is authenticated (auth.Authenticator), authorised
// (auth.Authorizer), traced and counted before it reaches a handler; every
// write goes through config.Engine as one transaction. It imports
// internal/{auth,config,schema}; nothing below it imports it.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/telemetry"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/api/rest")

// Options configure a Server.
type Options struct {
	Engine     *config.Engine
	Auth       auth.Authenticator
	Authorizer auth.Authorizer
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	// Spec returns the OpenAPI document as JSON, or as YAML when asked.
	Spec func(yaml bool) ([]byte, error)
	// Limits bound bodies, deadlines and large requests (zero fields:
	// DefaultLimits).
	Limits Limits
	// Ready reports whether the server should take traffic.
	Ready func() error
	// Sync reports what the adapters applied (nil: no adapters run).
	Sync Syncer
	// Audit records writes, denials and token events (nil: none).
	Audit *audit.Log
	// Tokens, when set, lets operators manage API tokens (/tokens).
	Tokens *auth.Tokens
	// CORSOrigins are the exact browser origins allowed to call the API
	// (none: CORS is off).
	CORSOrigins []string
	// Version and StoreKind (bbolt or etcd) are recorded in backups.
	Version, StoreKind string
	// BackupKey signs backups (internal/backup, sign.go).
	BackupKey []byte
}

// Server is the REST API.
type Server struct {
	opts    Options
	eng     *config.Engine
	sch     *schema.Schema
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *httpMetrics
	backupM *backupMetrics
	cors    *cors
	limits  *limiter
	// compat are the compatibility layers the loaded sets name
	// (internal/api/compat).
	compat []compat.Layer
}

// ErrNoAuthorizer refuses a server built without an authorizer: a
// forgotten one must not quietly become allow-all.
var ErrNoAuthorizer = errors.New("rest: no authorizer: every route is authorized through the policy, and none was given")

// New builds the server and its routes.
func New(opts Options) (*Server, error) {
	if opts.Authorizer == nil {
		return nil, ErrNoAuthorizer
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, eng: opts.Engine, sch: opts.Engine.Schema(), log: opts.Logger.With("component", "rest"), mux: http.NewServeMux()}
	layers, err := compat.For(s.sch)
	if err != nil {
		return nil, err
	}
	s.compat = layers
	s.metrics = newHTTPMetrics(opts.Registry)
	s.backupM = newBackupMetrics(opts.Registry)
	s.cors = newCORS(opts.CORSOrigins, opts.Registry)
	s.limits = newLimiter(opts.Limits, opts.Registry)
	for _, l := range layers {
		if l.Metrics != nil && opts.Registry != nil {
			l.Metrics(opts.Registry)
		}
	}
	s.routes()
	return s, nil
}

type route struct {
	pattern string
	name    string
	public  bool
	h       func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() {
	rs := []route{
		{"GET /healthz", "healthz", true, s.healthz},
		{"GET /readyz", "readyz", true, s.readyz},
		{"GET /metrics", "metrics", false, s.metricsHandler},
		{"GET /spec", "spec", false, s.spec},
		{"GET /models", "models", false, s.models},
		{"GET /whoami", "whoami", false, s.whoami},
		{"GET /references", "references", false, s.references},
		{"POST /models/{set}/migrate", "migrate", false, s.migrateSet},
		{"GET /targets", "targets", false, s.targets},
		{"GET /enterprises", "enterprises", false, s.listEnterprises},
		{"POST /enterprises", "enterprises", false, s.createEnterprise},
		{"GET /enterprises/{id}", "enterprise", false, s.getEnterprise},
		{"DELETE /enterprises/{id}", "enterprise", false, s.deleteEnterprise},
		{"GET /amp/transactions", "transactions", false, s.listTransactions},
		{"GET /transactions/{index}", "transaction", false, s.getTransaction},
		{"POST /transactions/{index}/rollback", "rollback", false, s.rollback},
		{"POST /transactions", "transaction-batch", false, s.batch},
		{"GET /diff", "diff", false, s.diff},
		{"GET /watch", "watch", false, s.watch},
		{"GET /sync-status", "sync-status", false, s.syncStatus},
		{"GET /audit", "audit", false, s.auditQuery},
		{"POST /tokens", "tokens", false, s.createToken},
		{"GET /tokens", "tokens", false, s.listTokens},
		{"DELETE /tokens/{id}", "tokens", false, s.revokeToken},
		{"PUT /state/", "state", false, s.stateWrite},
		{"PATCH /state/", "state", false, s.stateWrite},
		{"DELETE /state/", "state", false, s.stateWrite},
		{"GET /admin/log-level", "log-level", false, s.getLogLevel},
		{"PUT /admin/log-level", "log-level", false, s.setLogLevel},
		{"GET /admin/log-level/{component}", "log-level", false, s.getComponentLevel},
		{"PUT /admin/log-level/{component}", "log-level", false, s.setComponentLevel},
		{"DELETE /admin/log-level/{component}", "log-level", false, s.resetComponentLevel},
		{"GET /admin/backup", "backup", false, s.backup},
	}
	for _, l := range s.compat {
		for _, cr := range l.Routes {
			h := cr.Handler
			rs = append(rs, route{cr.Pattern, cr.Name, cr.Public, func(w http.ResponseWriter, r *http.Request) error { return h(host{s}, w, r) }})
			if cr.Bulk {
				s.limits.bulk[cr.Name] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, set := range s.sch.Sets {
		// /{prefix}/ too, so that an unknown version of a known set is
		// answered naming the versions loaded.
		for _, prefix := range []string{schema.RESTBase(set) + "/", "/" + set.RESTPrefix + "/"} {
			if seen[prefix] {
				continue
			}
			seen[prefix] = true
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				rs = append(rs, route{m + " " + prefix, "model", false, s.model})
			}
		}
	}
	for _, rt := range rs {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.limits.begin(w, r)
	// No route needs a longer URI, and routing one costs in proportion to
	// its length (escaping, cleaning) before any authentication: refuse it
	// first, echoing none of it.
	if len(r.RequestURI) > maxURI {
		writeProblem(w, r, &statusError{http.StatusRequestURITooLong, &schema.Error{Kind: schema.KindInvalid, Message: "URI too long",
			Problems: []schema.Problem{{Path: "URI", Reason: fmt.Sprintf("longer than %d bytes", maxURI)}}}})
		s.metrics.requests.WithLabelValues("uri-too-long", methodLabel(r.Method), "414").Inc()
		return
	}
	if s.cors.handle(w, r) {
		return // a preflight, answered
	}
	// Refuse dot segments ourselves: the mux would answer them with a
	// redirect, and a client should get a clear 400.
	p := r.URL.EscapedPath()
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") {
			writeProblem(w, r, &schema.Error{Kind: schema.KindInvalid, Message: "bad path", Problems: []schema.Problem{{Path: p, Reason: "path segments \".\" and \"..\" are not allowed"}}})
			return
		}
	}
	if strings.Contains(strings.TrimSuffix(p, "/"), "//") {
		writeProblem(w, r, &schema.Error{Kind: schema.KindInvalid, Message: "bad path", Problems: []schema.Problem{{Path: p, Reason: "empty path segment"}}})
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeProblem(w, r, &schema.Error{Kind: schema.KindNotFound, Message: "not found", Problems: []schema.Problem{{Path: p, Reason: fmt.Sprintf("no route for %s %s", r.Method, p)}}})
		return
	}
	s.mux.ServeHTTP(w, r) // sets the path values the handlers read
}

// maxURI bounds the request URI (path and query), in bytes.
const maxURI = 8 << 10

// methodLabel is a request method as a metric label: the methods AMP
// serves, or "other" (a label must not take any value a caller sends).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return m
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code int
	// onHeader runs once, just before the status line goes out (the audit
	// record is enqueued there, so a client reading the audit trail right
	// after its response finds it).
	onHeader func(code int)
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.code == 0 {
		sw.code = code
		if sw.onHeader != nil {
			sw.onHeader(code)
		}
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.code == 0 {
		sw.WriteHeader(http.StatusOK)
	}
	return sw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

func (sw *statusWriter) Flush() {
	if f, ok := sw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// wrap adds tracing, metrics, logging, authentication and the body limit.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, "http "+rt.name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.method", r.Method), attribute.String("http.route", rt.pattern)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		if streaming(rt) {
			s.limits.stream(sw)
		}
		if tp := telemetry.Traceparent(span.SpanContext()); tp != "" {
			sw.Header().Set("Traceparent", tp) // its flags say whether the trace is sampled
		}
		in := &reqInfo{}
		ctx = context.WithValue(ctx, reqInfoKey{}, in)
		r = r.WithContext(ctx)
		if r.Method == http.MethodHead {
			// HEAD is GET without the response body (RFC 9110): the mux
			// routes it to the GET pattern, so the handler must see a
			// read, never a write (whatever body the request carries).
			r.Method = http.MethodGet
		}
		var err error
		authFailed := false
		// Public routes too: a public write (a cluster's registration)
		// is recorded; reads are not (auditRequest).
		sw.onHeader = func(code int) { s.auditRequest(r, in, code, err, authFailed) }
		if !rt.public {
			var p *auth.Principal
			p, err = s.opts.Auth.Authenticate(r)
			if err != nil {
				authFailed = true
				sw.Header().Set("WWW-Authenticate", `Bearer realm="amp"`)
				err = s.authFailure(sw, r, err)
			} else {
				r = r.WithContext(auth.WithPrincipal(ctx, p))
				span.SetAttributes(attribute.String("amp.principal", p.Name))
				var done func()
				done, err = s.limits.admitPrincipal(sw, r, p.Name, rt)
				defer done()
			}
		}
		if err == nil && !rt.public {
			err = s.waitMinIndex(r)
		}
		if err == nil {
			err = s.auditWritable(r)
		}
		if err == nil {
			var release func()
			if release, err = s.limits.admitBody(sw, r, rt); err == nil {
				err = rt.h(sw, r)
				release()
			}
		}
		if err != nil {
			s.limits.closeUnread(sw, r)
			writeProblem(sw, r, err)
			span.RecordError(err)
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}

		span.SetAttributes(attribute.Int("http.status_code", code))
		s.metrics.observe(rt.name, r.Method, code, time.Since(start))
		level := slog.LevelDebug
		if code >= 500 {
			level = slog.LevelError
		}
		if s.log.Enabled(r.Context(), level) {
			s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", rt.name, "status", code,
				"duration_ms", float64(time.Since(start).Microseconds())/1000, "principal", principalName(r.Context()))
		}
	})
}

func principalName(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return p.Name
	}
	return ""
}

// status maps an error kind to its HTTP status: the one table.
func status(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	var le *statusError
	if errors.As(err, &le) {
		return le.code
	}
	switch schema.KindOf(err) {
	case schema.KindInvalid:
		return http.StatusBadRequest
	case schema.KindNotFound:
		return http.StatusNotFound
	case schema.KindConflict:
		return http.StatusConflict
	case schema.KindPrecondition:
		return http.StatusPreconditionFailed
	case schema.KindUnprocessable:
		return http.StatusUnprocessableEntity
	case schema.KindGone:
		return http.StatusGone
	case schema.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case schema.KindUnauthenticated:
		return http.StatusUnauthorized
	case schema.KindForbidden:
		return http.StatusForbidden
	case schema.KindUnavailable:
		return http.StatusServiceUnavailable
	case schema.KindInternal:
		return http.StatusInternalServerError
	}
	return http.StatusInternalServerError
}

// problem is the RFC 7807 body. "message" (the error in one line) is a
// compatibility layer's member: answers about a set that no such layer
// covers leave it out (compat.ProblemMessage).
type problem struct {
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Status  int              `json:"status"`
	Detail  string           `json:"detail,omitempty"`
	Message string           `json:"message,omitempty"`
	Errors  []schema.Problem `json:"errors"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	p := problem{Type: "about:blank", Title: http.StatusText(code), Status: code, Errors: []schema.Problem{}}
	var se *schema.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		p.Detail = se.Message
		p.Errors = se.Problems
		p.Message = se.Error()
	case errors.As(err, &mbe):
		p.Message = fmt.Sprintf("request body larger than %d bytes", mbe.Limit)
		p.Errors = []schema.Problem{{Path: r.URL.Path, Reason: p.Message}}
	default:
		// An unexpected error: the details stay in the server log.
		p.Message = "internal error"
		slog.ErrorContext(r.Context(), "internal error", "error", err, "path", r.URL.Path)
	}
	if in := info(r.Context()); in.set != nil && !compat.ProblemMessage(in.set) {
		p.Message = "" // a compatibility layer's member, for its sets only
	}
	if len(p.Message) > 4096 {
		p.Message = p.Message[:4096] + "…"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// readJSON decodes a request body (numbers kept exact) as it arrives: the
// body reader (jsonBody) refuses one over the route's limits before the
// decoder holds it whole.
func readJSON(r *http.Request) (any, error) {
	// A body without a Content-Type is refused (400), as the request
	// validator of the API AMP replaced did; any declared type is read as JSON, so that
	// `curl -d` (form-encoded by default) works (docs/conformance.md).
	if r.Header.Get("Content-Type") == "" {
		return nil, schema.Errorf(schema.KindInvalid, "Content-Type", "a request body needs a Content-Type header: application/json")
	}
	if r.Body == nil {
		return nil, schema.Errorf(schema.KindInvalid, "/", "the request body is empty; send a JSON document")
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *schema.Error
		switch {
		case errors.As(err, &se):
			return nil, err // a limit, or not UTF-8
		case errors.Is(err, io.EOF):
			return nil, schema.Errorf(schema.KindInvalid, "/", "the request body is empty; send a JSON document")
		}
		return nil, schema.Errorf(schema.KindInvalid, "/", "malformed JSON: %v", err)
	}
	if dec.More() {
		return nil, schema.Errorf(schema.KindInvalid, "/", "malformed JSON: more than one value in the body")
	}
	// Read to the end: what follows the value is checked too (UTF-8, size).
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var se *schema.Error
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, schema.Errorf(schema.KindInvalid, "/", "reading the request body: %v", err)
	}
	return v, nil
}

func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, schema.Errorf(schema.KindInvalid, "?"+name, "%q is not true or false", v)
	}
	return b, nil
}

func queryUint(r *http.Request, name string) (uint64, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, schema.Errorf(schema.KindInvalid, "?"+name, "%q is not a non-negative integer", v)
	}
	return n, true, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			return &schema.Error{Kind: schema.KindUnavailable, Message: "not ready", Problems: []schema.Problem{{Path: "/readyz", Reason: err.Error()}}}
		}
	}
	// No index: this answer is unauthenticated, and the global index tells
	// how busy every tenant is.
	return writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

func (s *Server) spec(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Read, "/spec"); err != nil {
		return err
	}
	if s.opts.Spec == nil {
		return schema.Errorf(schema.KindNotFound, "/spec", "no OpenAPI document is configured")
	}
	ct := "application/json"
	yaml := false
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "yaml":
		ct, yaml = "application/yaml", true
	default:
		return schema.Errorf(schema.KindInvalid, "?format", "%q is not json or yaml", f)
	}
	return s.writeSpec(w, yaml, ct)
}

// maxMinIndexWait bounds how long a request with ?min-index= waits for this
// replica to apply that index.
const maxMinIndexWait = 10 * time.Second

// waitMinIndex serves ?min-index=N (read-your-writes across replicas): the
// request is answered once this replica has applied transaction N, the
// index another replica returned for a write (X-AMP-Transaction-Index).
func (s *Server) waitMinIndex(r *http.Request) error {
	v := r.URL.Query().Get("min-index")
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return schema.Errorf(schema.KindInvalid, "?min-index", "%q is not a transaction index (a non-negative integer)", v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), maxMinIndexWait)
	defer cancel()
	_, err = s.eng.WaitIndex(ctx, n)
	return err
}
