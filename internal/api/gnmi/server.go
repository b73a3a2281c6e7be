// Package gnmi serves the OpenConfig gNMI interface (Capabilities, Get, Set,
// Subscribe) over the configuration engine, as onos-config did: the origin
// of a path is the model set's gNMI origin and the target is the tenant
// (none for a global set). Every RPC is authenticated (auth.GRPCAuthenticator) and
// authorised (auth.Authorizer, on the REST path of each location), so gNMI
// and REST share one decision point. See docs/gnmi.md.
package gnmi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/netlimit"
	"github.com/amp-edge/amp/internal/schema"
)

// DefaultMaxMsgSize bounds one gRPC message in either direction.
const DefaultMaxMsgSize = 16 << 20

// Default limits (the --gnmi-* flags of amp serve; docs/gnmi.md).
const (
	DefaultMaxConns                     = 512
	DefaultMaxConnsPerSource            = 32
	DefaultMaxStreamsPerConn            = 100 // RFC 9113 recommends no less
	DefaultMaxSubscriptionsPerPrincipal = 32
	DefaultIdleTimeout                  = 5 * time.Minute
	// DefaultIdleRecheck is how often a Subscribe stream that sends
	// nothing checks that its caller's credential and right still hold,
	// so that a revoked caller's stream ends even while nothing changes.
	DefaultIdleRecheck = 15 * time.Second
)

// Transport limits that need no flag: they only bound what a peer makes the
// server hold before and between its calls.
const (
	// handshakeTimeout bounds the TLS handshake and HTTP/2 preface of a new
	// connection (gRPC's default is 120 s).
	handshakeTimeout = 10 * time.Second
	// maxHeaderList bounds the headers of a call, read before it is
	// authenticated (gRPC's default is 16 MiB); a bearer JWT is a few KiB.
	maxHeaderList = 64 << 10
	// keepaliveTime and keepaliveTimeout: the server pings a connection
	// quiet this long and closes it when the ping is not answered in
	// time, so dead peers do not hold streams.
	keepaliveTime    = time.Minute
	keepaliveTimeout = 20 * time.Second
	// minClientPing is the shortest keepalive interval a client may use;
	// a client pinging more often is sent GOAWAY (too_many_pings).
	minClientPing = 30 * time.Second
)

// Options configure a Server.
type Options struct {
	// TLS, when set, serves gRPC over TLS (see auth.ServerTLS; a ClientCAs
	// pool enables mutual TLS). Nil serves plaintext.
	TLS *tls.Config
	// Auth authenticates every call; nil refuses every call.
	Auth auth.GRPCAuthenticator
	// Authorizer decides per location; required (New refuses nil).
	Authorizer auth.Authorizer
	// MaxMsgSize bounds received and sent messages (0 = 16 MiB). Only an
	// authenticated call's messages are read (see auth.TapHandle).
	MaxMsgSize int
	// MaxConns and MaxConnsPerSource bound open connections, in total and
	// per client IP address; MaxStreamsPerConn bounds concurrent calls on
	// one connection; MaxSubscriptionsPerPrincipal bounds one principal's
	// open Subscribe streams. 0 = the Default* value; negative = no bound.
	MaxConns, MaxConnsPerSource, MaxStreamsPerConn, MaxSubscriptionsPerPrincipal int
	// IdleTimeout closes connections without calls (0 = DefaultIdleTimeout).
	IdleTimeout time.Duration
	// IdleRecheck is how often a quiet stream re-checks its caller (0 =
	// DefaultIdleRecheck).
	IdleRecheck time.Duration

	Logger *slog.Logger
	// Registerer receives the gNMI metrics (nil = not registered).
	Registerer prometheus.Registerer
	// DefaultSampleInterval applies to SAMPLE subscriptions without one.
	DefaultSampleInterval time.Duration
	// Audit records every Set and every denied call (nil: none).
	Audit *audit.Log
	// Sync, when set, lets a Set wait until the adapters applied it
	// (extension 111, see set.go).
	Sync Syncer
}

// Syncer reports what the adapters applied (controller.Group).
type Syncer interface {
	WaitApplied(ctx context.Context, index uint64) ([]controller.Status, error)
}

// Server implements gnmi.GNMIServer.
type Server struct {
	gpb.UnimplementedGNMIServer
	eng     *config.Engine
	opts    Options
	log     *slog.Logger
	m       *metrics
	closing chan struct{}
	once    sync.Once
	served  chan error // what ended Listen's Serve (nil channel without Listen)

	mu   sync.Mutex
	grpc *grpc.Server

	subsMu sync.Mutex
	subsBy map[string]int // principal key -> open Subscribe streams
}

// ErrNoAuthorizer refuses a server built without an authorizer: a
// forgotten one must not quietly become allow-all.
var ErrNoAuthorizer = errors.New("gnmi: no authorizer: every call is authorized through the policy, and none was given")

// New builds a gNMI server over eng.
func New(eng *config.Engine, opts Options) (*Server, error) {
	if opts.Authorizer == nil {
		return nil, ErrNoAuthorizer
	}
	if opts.MaxMsgSize <= 0 {
		opts.MaxMsgSize = DefaultMaxMsgSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Auth == nil {
		opts.Auth = &auth.GRPCAuth{}
	}
	if opts.DefaultSampleInterval <= 0 {
		opts.DefaultSampleInterval = 10 * time.Second
	}
	limit(&opts.MaxConns, DefaultMaxConns)
	limit(&opts.MaxConnsPerSource, DefaultMaxConnsPerSource)
	limit(&opts.MaxStreamsPerConn, DefaultMaxStreamsPerConn)
	limit(&opts.MaxSubscriptionsPerPrincipal, DefaultMaxSubscriptionsPerPrincipal)
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.IdleRecheck <= 0 {
		opts.IdleRecheck = DefaultIdleRecheck
	}
	return &Server{eng: eng, opts: opts, log: opts.Logger.With("component", "gnmi"), m: newMetrics(opts.Registerer),
		closing: make(chan struct{}), subsBy: map[string]int{}}, nil
}

// limit applies a limit's default (0) and "no bound" (negative, kept as 0).
func limit(v *int, def int) {
	switch {
	case *v == 0:
		*v = def
	case *v < 0:
		*v = 0
	}
}

// authFailed counts a call refused for its credentials and hands it to the
// audit trail's per-source aggregation (one record per source and window,
// as over REST), so unauthenticated callers cannot flood the trail.
func (s *Server) authFailed(ctx context.Context, method string, err error) {
	s.m.refused.WithLabelValues("unauthenticated").Inc()
	if s.opts.Audit == nil {
		return
	}
	addr := ""
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		addr = pr.Addr.String()
	}
	s.opts.Audit.AuthFailures().Fail(ctx, audit.GNMI, addr, "", method, err.Error())
}

// ServerOptions are the grpc.ServerOptions the gNMI service needs: TLS,
// authentication before any message is read, message, header, stream and
// keepalive limits, and metrics.
func (s *Server) ServerOptions() []grpc.ServerOption {
	o := []grpc.ServerOption{
		grpc.InTapHandle(auth.TapHandle(s.opts.Auth, s.authFailed)),
		grpc.MaxRecvMsgSize(s.opts.MaxMsgSize),
		grpc.MaxSendMsgSize(s.opts.MaxMsgSize),
		grpc.MaxHeaderListSize(maxHeaderList),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPing}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.opts.IdleTimeout, Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.ChainUnaryInterceptor(s.m.unary),
		grpc.ChainStreamInterceptor(s.m.stream),
	}
	if s.opts.MaxStreamsPerConn > 0 {
		o = append(o, grpc.MaxConcurrentStreams(uint32(s.opts.MaxStreamsPerConn)))
	}
	if s.opts.TLS != nil {
		o = append(o, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	return o
}

// Register adds the gNMI service to g (built with ServerOptions).
func (s *Server) Register(g *grpc.Server) { gpb.RegisterGNMIServer(g, s) }

// grpcServer returns the gRPC server Serve uses, built on first use.
func (s *Server) grpcServer() *grpc.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpc == nil {
		s.grpc = grpc.NewServer(s.ServerOptions()...)
		s.Register(s.grpc)
	}
	return s.grpc
}

// Serve serves gNMI on lis, within the connection limits, until Stop.
func (s *Server) Serve(lis net.Listener) error {
	ll := netlimit.Wrap(lis, netlimit.Options{Max: s.opts.MaxConns, PerSource: s.opts.MaxConnsPerSource,
		Refused: func(reason string) { s.m.refused.WithLabelValues(reason).Inc() }})
	if s.opts.Registerer != nil {
		_ = s.opts.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "amp_gnmi_connections",
			Help: "Open gNMI connections (within --gnmi-max-conns)."}, func() float64 { return float64(ll.Open()) }))
	}
	err := s.grpcServer().Serve(ll)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop ends open subscriptions (Unavailable), lets unary calls finish for
// up to timeout and stops serving.
func (s *Server) Stop(timeout time.Duration) {
	s.once.Do(func() { close(s.closing) })
	g := s.grpcServer()
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		g.Stop()
		<-done
	}
}

// principal returns the caller's principal name.
func principal(ctx context.Context) *auth.Principal { return auth.FromContext(ctx) }

// authorize asks the policy about the REST path of a location (classified
// by the one path grammar); a caller who may not even read the path's
// tenant is told it does not exist (errNoEnterprise), as for one that
// really does not, so enterprises cannot be discovered. Callers authorize
// before they look at what exists, so the two answers are one by
// construction. No caller is Unauthenticated; a policy that cannot decide
// is Internal (the cause is in the server log), never the caller's fault.
func (s *Server) authorize(ctx context.Context, action auth.Action, path string) error {
	p := principal(ctx)
	res, err := s.resource(path)
	if err != nil {
		return toStatus(err)
	}
	if err := s.opts.Authorizer.Authorize(ctx, p, action, res); err != nil {
		if action != auth.Write { // Set records its own outcome (auditSet)
			s.auditDenied(ctx, action, path, err)
		}
		switch auth.RefusalOf(err) {
		case auth.Unauthenticated:
			return deniedError{status.Newf(codes.Unauthenticated, "%s %s: %v", action, path, err)}
		case auth.Failed:
			s.log.ErrorContext(ctx, "authorization failed", "error", err, "path", path, "action", string(action))
			return deniedError{status.Newf(codes.Internal, "%s %s: the authorization policy could not be evaluated (the operator sees why in the server log); the request was refused", action, path)}
		}
		if res.Tenant != "" && !s.allowed(ctx, p, auth.Read, "/enterprises/"+schema.EscapeSegment(res.Tenant)) {
			return deniedError{errNoEnterprise(res.Tenant)}
		}
		return deniedError{status.Newf(codes.PermissionDenied, "%s %s: %v", action, path, err)}
	}
	return nil
}

// allowed reports whether p may act on a REST path AMP rendered.
func (s *Server) allowed(ctx context.Context, p *auth.Principal, action auth.Action, path string) bool {
	return s.authorizePath(ctx, p, action, path) == nil
}

// authorizePath asks the authorizer about a REST path AMP rendered.
func (s *Server) authorizePath(ctx context.Context, p *auth.Principal, action auth.Action, path string) error {
	res, err := s.resource(path)
	if err != nil {
		return err
	}
	return s.opts.Authorizer.Authorize(ctx, p, action, res)
}

// resource classifies a REST path for the authorizer, naming the tenant a
// global object is tied to as it is now (its ampx:tenant leaf), so that the
// policy may let that tenant's roles read it: the same as on REST.
func (s *Server) resource(path string) (auth.Resource, error) {
	return auth.ResourceIn(s.eng.Schema(), s.eng.Snapshot(), path)
}

// errNoEnterprise is the one answer for an enterprise that does not exist
// and for one the caller may not read.
func errNoEnterprise(ent string) *status.Status {
	return status.Newf(codes.NotFound, "enterprise %q does not exist", ent)
}

// deniedError is a refusal by the policy, whatever its code (NotFound for
// an enterprise the caller may not read): Set audits it as denied.
type deniedError struct{ st *status.Status }

func (e deniedError) Error() string              { return e.st.Err().Error() }
func (e deniedError) GRPCStatus() *status.Status { return e.st }

// canSeeStatus: an object's sync status is visible to a caller who may
// read every enterprise its configuration came from (as on REST).
func (s *Server) canSeeStatus(ctx context.Context, st controller.Status) bool {
	p := principal(ctx)
	ents := controller.SourceEnterprises(s.eng.Schema(), st.Sources)
	if len(ents) == 0 {
		return s.allowed(ctx, p, auth.Admin, "/transactions")
	}
	for _, e := range ents {
		if !s.allowed(ctx, p, auth.Read, "/enterprises/"+schema.EscapeSegment(e)) {
			return false
		}
	}
	return true
}

// auditDenied records a refused read (Get or Subscribe).
func (s *Server) auditDenied(ctx context.Context, action auth.Action, path string, err error) {
	if s.opts.Audit == nil {
		return
	}
	rec := audit.Record{Interface: "gnmi", Action: string(action), Paths: []string{path}, Outcome: "denied", Reason: err.Error()}
	if p := principal(ctx); p != nil {
		rec.Principal, rec.Groups, rec.Via = p.Name, p.Groups, p.Via
	}
	if pr, ok := peer.FromContext(ctx); ok {
		rec.Source = pr.Addr.String()
	}
	s.opts.Audit.Enqueue(ctx, rec)
}

// metrics are amp_gnmi_*.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	subs     prometheus.Gauge
	// refused counts calls and connections turned away by a limit or for
	// want of credentials; ended counts streams ended because their
	// credential or right went away.
	refused *prometheus.CounterVec
	ended   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_gnmi_requests_total", Help: "gNMI calls by RPC and gRPC status code."}, []string{"rpc", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "amp_gnmi_request_duration_seconds", Help: "Duration of gNMI calls (Subscribe: the whole stream).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12)}, []string{"rpc"}),
		subs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_gnmi_subscriptions", Help: "Open gNMI Subscribe streams."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_gnmi_refused_total",
			Help: "gNMI calls and connections refused before any message was read, by reason: unauthenticated, connections, connections_per_source, subscriptions_per_principal."}, []string{"reason"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_gnmi_subscriptions_ended_total",
			Help: "gNMI Subscribe streams ended because the caller's credential (unauthenticated) or right (permission_denied) went away, or the policy could not be evaluated (internal)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.subs, m.refused, m.ended)
	}
	return m
}

func rpcName(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '/' {
			return full[i+1:]
		}
	}
	return full
}

func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	rpc := rpcName(info.FullMethod)
	m.requests.WithLabelValues(rpc, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(rpc).Observe(time.Since(start).Seconds())
	return resp, err
}

func (m *metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	m.subs.Inc()
	err := h(srv, ss)
	m.subs.Dec()
	rpc := rpcName(info.FullMethod)
	m.requests.WithLabelValues(rpc, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(rpc).Observe(time.Since(start).Seconds())
	return err
}

func errorf(c codes.Code, format string, args ...any) error {
	return status.Error(c, fmt.Sprintf(format, args...))
}
