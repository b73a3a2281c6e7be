package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/store"
)

// StoreKind names the kind of store a --store value selects, as recorded
// in backups: bbolt or etcd.
func StoreKind(spec string) string {
	if spec == "" || spec == "bbolt" {
		return "bbolt"
	}
	return "etcd"
}

// OpenOffline opens the store spec names, as --store does for amp serve
// (bbolt in dataDir, or etcd://… trusting etcdCA for etcds://), for the
// commands that work on a store with no server on it: restore and
// migrate-store. A store a running amp serve holds is refused: bbolt's
// file lock; on etcd, live election keys of the replicas serving the
// prefix (every replica campaigns for the controllers and maintenance).
func OpenOffline(ctx context.Context, spec, dataDir, etcdCA string) (store.Store, error) {
	cfg := Config{Store: spec, DataDir: dataDir, EtcdCA: etcdCA}
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		if StoreKind(spec) == "bbolt" {
			return nil, fmt.Errorf("bbolt store in %s: %w", dataDir, err)
		}
		return nil, fmt.Errorf("store %s: %w", spec, err)
	}
	if es, ok := st.Store.(*store.Etcd); ok {
		// Each election key is on a lease that lapses when its replica stops.
		n, err := es.CountKeys("elect/")
		if err == nil && n > 0 {
			err = fmt.Errorf("%d election keys under the prefix: amp serve replicas are running on it (a replica killed in the last few seconds holds its keys until its lease lapses); stop every replica first", n)
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("store %s: %w", spec, err)
		}
	}
	return st, nil
}

// Unwrap returns the store itself, for code that sizes its writes to the
// backend (internal/backup's restore).
func (o *openedStore) Unwrap() store.Store { return o.Store }
