package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"

	"github.com/amp-edge/amp/internal/store"
)

// replicaLockTTL bounds how long a killed replica's lock outlives it: the
// next replica (or the same one restarted) waits at most this long.
const replicaLockTTL = 5 // seconds

// openedStore is the store Run serves from, and what to release with it.
type openedStore struct {
	store.Store
	// lost is closed when this replica no longer holds the etcd replica
	// lock (its lease expired: etcd unreachable for longer than the TTL).
	// Nil for bbolt: never.
	lost    <-chan struct{}
	release func()
}

func (o *openedStore) Close() error {
	err := o.Store.Close()
	if o.release != nil {
		o.release()
	}
	return err
}

// openStore opens the store cfg.Store names: bbolt in the data dir, or
// etcd. On etcd one replica serves a prefix at a time (multi-replica
// serving is not built yet): a second one waits for the replica lock and
// takes over when the holder stops or dies.
func openStore(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*openedStore, error) {
	if cfg.Store == "" || cfg.Store == "bbolt" {
		st, err := store.OpenBolt(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return &openedStore{Store: st}, nil
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
	held := promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Name: "amp_etcd_replica_lock_held",
		Help: "1 while this replica holds its etcd prefix's replica lock (and serves), 0 otherwise.",
	})
	lost, release, err := lockReplica(ctx, ecfg, log)
	if err != nil {
		return nil, err
	}
	st, err := store.OpenEtcd(ctx, ecfg)
	if err != nil {
		release()
		return nil, err
	}
	log.Info("store on etcd", "endpoints", ecfg.Endpoints, "prefix", ecfg.Prefix)
	held.Set(1)
	go func() { <-lost; held.Set(0) }()
	return &openedStore{Store: st, lost: lost, release: release}, nil
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

// lockReplica takes the prefix's replica lock, held by a lease that lapses
// replicaLockTTL seconds after this process stops renewing it.
func lockReplica(ctx context.Context, ecfg store.EtcdConfig, log *slog.Logger) (<-chan struct{}, func(), error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: ecfg.Endpoints, DialTimeout: 5 * time.Second, TLS: ecfg.TLS, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, fmt.Errorf("etcd %v: %w", ecfg.Endpoints, err)
	}
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(replicaLockTTL))
	if err != nil {
		cli.Close()
		return nil, nil, fmt.Errorf("etcd %v: open a session: %w", ecfg.Endpoints, err)
	}
	mu := concurrency.NewMutex(sess, ecfg.Prefix+"replica-lock")
	if err := mu.TryLock(ctx); err != nil {
		if !errors.Is(err, concurrency.ErrLocked) {
			sess.Close()
			cli.Close()
			return nil, nil, fmt.Errorf("etcd: take the replica lock: %w", err)
		}
		log.Warn("another AMP replica serves this etcd prefix; waiting to take over (one replica per prefix)",
			"prefix", ecfg.Prefix, "wait_at_most_after_it_dies", fmt.Sprintf("%ds", replicaLockTTL))
		if err := mu.Lock(ctx); err != nil {
			sess.Close()
			cli.Close()
			return nil, nil, fmt.Errorf("etcd: wait for the replica lock: %w", err)
		}
	}
	release := func() {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = mu.Unlock(uctx)
		cancel()
		sess.Close()
		cli.Close()
	}
	return sess.Done(), release, nil
}
