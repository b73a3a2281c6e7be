package server

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/store"
)

// storeProbeEvery is how often a store out of the process is asked
// whether it answers; a probe waits as long for the answer.
const storeProbeEvery = 2 * time.Second

// storeProbe returns a check that the store answers reads, for a store
// that lives out of the process (etcd); nil for the embedded one, which
// fails with the process.
func storeProbe(s store.Store) func(ctx context.Context) error {
	e, ok := s.(*store.Etcd)
	if !ok {
		return nil
	}
	return func(ctx context.Context) error {
		// A linearizable read needs a leader and a quorum, as every write
		// does: a cluster that cannot serve it cannot serve AMP either.
		_, err := e.Client().Get(ctx, e.Prefix(), clientv3.WithCountOnly())
		return err
	}
}

// watchStore probes the store until ctx ends and reports to the group
// whether it answers: while it does not, the server is not ready (/readyz
// 503 naming the store and the cause) but keeps serving what it can, and
// is ready again as soon as the store answers (etcd restarted, partition
// healed) — restarting AMP would not bring the store back.
func watchStore(ctx context.Context, probe func(context.Context) error, g *component.Group) {
	t := time.NewTicker(storeProbeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, storeProbeEvery)
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("etcd does not answer a read within %s: %w", storeProbeEvery, err)
		}
		g.Report("store", err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
