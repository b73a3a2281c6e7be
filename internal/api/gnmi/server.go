// Package gnmi serves the OpenConfig gNMI interface (Capabilities, Get, Set,
// Subscribe) over the configuration engine, as onos-config did for Aether:
// the origin of a path is the model set ("aether") and the target is the
// enterprise. Every RPC is authenticated (auth.GRPCAuthenticator) and
// authorised (auth.Authorizer, on the REST path of each location), so gNMI
// and REST share one decision point. See docs/gnmi.md.
package gnmi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"google.golang.org/grpc/peer"
	"log/slog"
	"net"
	"sync"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/policy"
)

// DefaultMaxMsgSize bounds one gRPC message in either direction.
const DefaultMaxMsgSize = 16 << 20

// Options configure a Server.
type Options struct {
	// TLS, when set, serves gRPC over TLS (see auth.ServerTLS; a ClientCAs
	// pool enables mutual TLS). Nil serves plaintext.
	TLS *tls.Config
	// Auth authenticates every call; nil refuses every call.
	Auth auth.GRPCAuthenticator
	// Authorizer decides per location; nil = auth.AllowAuthenticated.
	Authorizer auth.Authorizer
	// MaxMsgSize bounds received and sent messages (0 = 16 MiB).
	MaxMsgSize int
	Logger     *slog.Logger
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

	mu   sync.Mutex
	grpc *grpc.Server
}

// New builds a gNMI server over eng.
func New(eng *config.Engine, opts Options) *Server {
	if opts.MaxMsgSize <= 0 {
		opts.MaxMsgSize = DefaultMaxMsgSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Authorizer == nil {
		opts.Authorizer = auth.AllowAuthenticated{}
	}
	if opts.Auth == nil {
		opts.Auth = &auth.GRPCAuth{}
	}
	if opts.DefaultSampleInterval <= 0 {
		opts.DefaultSampleInterval = 10 * time.Second
	}
	return &Server{eng: eng, opts: opts, log: opts.Logger.With("component", "gnmi"), m: newMetrics(opts.Registerer), closing: make(chan struct{})}
}

// ServerOptions are the grpc.ServerOptions the gNMI service needs: TLS,
// message size limits, metrics and authentication interceptors.
func (s *Server) ServerOptions() []grpc.ServerOption {
	o := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxMsgSize),
		grpc.MaxSendMsgSize(s.opts.MaxMsgSize),
		grpc.ChainUnaryInterceptor(s.m.unary, auth.UnaryServerInterceptor(s.opts.Auth)),
		grpc.ChainStreamInterceptor(s.m.stream, auth.StreamServerInterceptor(s.opts.Auth)),
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

// Serve serves gNMI on lis until Stop.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpcServer().Serve(lis)
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

// authorize asks the policy; a caller who may not even read the path's
// enterprise is told it does not exist, as for one that really does not, so
// enterprises cannot be discovered.
func (s *Server) authorize(ctx context.Context, action auth.Action, path string) error {
	p := principal(ctx)
	if err := s.opts.Authorizer.Authorize(ctx, p, action, path); err != nil {
		if action != auth.Write { // Set records its own outcome (auditSet)
			s.auditDenied(ctx, action, path, err)
		}
		if ent := policy.ParsePath(path).Enterprise; ent != "" && s.opts.Authorizer.Authorize(ctx, p, auth.Read, "/enterprises/"+ent) != nil {
			return status.Errorf(codes.NotFound, "enterprise %q does not exist", ent)
		}
		return status.Errorf(codes.PermissionDenied, "%s %s: %v", action, path, err)
	}
	return nil
}

// canSeeStatus: an object's sync status is visible to a caller who may
// read every enterprise its configuration came from (as on REST).
func (s *Server) canSeeStatus(ctx context.Context, st controller.Status) bool {
	p := principal(ctx)
	ents := controller.SourceEnterprises(st.Sources)
	if len(ents) == 0 {
		return s.opts.Authorizer.Authorize(ctx, p, auth.Admin, "/transactions") == nil
	}
	for _, e := range ents {
		if s.opts.Authorizer.Authorize(ctx, p, auth.Read, "/enterprises/"+e) != nil {
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
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_gnmi_requests_total", Help: "gNMI calls by RPC and gRPC status code."}, []string{"rpc", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "amp_gnmi_request_duration_seconds", Help: "Duration of gNMI calls (Subscribe: the whole stream).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12)}, []string{"rpc"}),
		subs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_gnmi_subscriptions", Help: "Open gNMI Subscribe streams."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.subs)
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
