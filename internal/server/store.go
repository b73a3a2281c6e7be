package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"

	"github.com/amp-edge/amp/internal/elect"
	"github.com/amp-edge/amp/internal/store"
)

// electionTTL bounds, in seconds, how long a killed replica keeps leading
// its controllers and maintenance: the lease outlives its last renewal by
// this much, so another replica takes over within about that time.
const electionTTL = 3

// openedStore is the store Run serves from and the elector its replicas
// share.
type openedStore struct {
	store.Store
	elector elect.Elector
	replica string // this replica's name on a shared store, else empty
}

// openStore opens the store cfg.Store names: bbolt in the data dir, or
// etcd, which any number of replicas may serve at once; they elect one to
// run each controller and one to write checkpoints.
func openStore(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*openedStore, error) {
	em := elect.NewMetrics(reg)
	if cfg.Store == "" || cfg.Store == "bbolt" {
		st, err := store.OpenBolt(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return &openedStore{Store: st, elector: elect.Local{M: em}}, nil
	}
	if !strings.HasPrefix(cfg.Store, "etcd://") && !strings.HasPrefix(cfg.Store, "etcds://") {
		return nil, fmt.Errorf("--store %q: want bbolt, etcd://host:port[,host:port…][/prefix/] or etcds://…", cfg.Store)
	}
	ecfg, err := store.ParseEtcdURL(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	if strings.HasPrefix(cfg.Store, "etcds://") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.EtcdCA != "" {
			pem, err := os.ReadFile(cfg.EtcdCA)
			if err != nil {
				return nil, fmt.Errorf("--etcd-ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", cfg.EtcdCA)
			}
		}
		ecfg.TLS = tc
	}
	ecfg.DialOptions = append(ecfg.DialOptions, etcdRequestMetrics(reg))
	st, err := store.OpenEtcd(ctx, ecfg)
	if err != nil {
		return nil, err
	}
	id := cfg.ReplicaName
	if id == "" {
		host, _ := os.Hostname()
		id = host + "/" + cfg.Listen
	}
	log.Info("store on etcd", "endpoints", ecfg.Endpoints, "prefix", st.Prefix(), "replica", id)
	promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
		Name: "amp_replica_info",
		Help: "Always 1: this replica's name and the etcd prefix it shares with the other replicas (its roles: amp_leader).",
	}, []string{"replica", "prefix"}).WithLabelValues(id, st.Prefix()).Set(1)
	el := &elect.Etcd{Client: st.Client(), Prefix: st.Prefix(), ID: id, TTL: electionTTL, Log: log, Metrics: em}
	return &openedStore{Store: st, elector: el, replica: id}, nil
}

// etcdRequestMetrics times every etcd request (a unary gRPC call: Range,
// Txn, Put, …) into amp_etcd_request_duration_seconds{method,outcome}.
func etcdRequestMetrics(reg prometheus.Registerer) grpc.DialOption {
	h := promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
		Name:    "amp_etcd_request_duration_seconds",
		Help:    "Latency of AMP's requests to etcd, by gRPC method and outcome (ok or error).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
	}, []string{"method", "outcome"})
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		t0 := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		h.WithLabelValues(path.Base(method), outcome).Observe(time.Since(t0).Seconds())
		return err
	})
}
