package server

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/store"
)

// probeEvery is how often a watched dependency (the etcd store, the audit
// trail) is checked; a check waits as long for its answer.
const probeEvery = 2 * time.Second

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
		if _, err := e.Client().Get(ctx, e.Prefix(), clientv3.WithCountOnly()); err != nil {
			return fmt.Errorf("etcd does not answer a read within %s: %w", probeEvery, err)
		}
		return nil
	}
}

// watching is a component that checks something the server needs but
// cannot fix (the store out of reach, the audit trail's disk full) every
// probeEvery and reports to the group: while the check fails the server is
// not ready (/readyz 503 naming the component and the cause) but keeps
// serving what it can, and it is ready again as soon as the check passes;
// restarting AMP would not fix either.
func watching(name string, check func(context.Context) error, g *component.Group) component.Component {
	return component.Component{Name: name, KeepServing: true, Run: func(ctx context.Context) error {
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			cctx, cancel := context.WithTimeout(ctx, probeEvery)
			err := check(cctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			g.Report(name, err)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}}
}
