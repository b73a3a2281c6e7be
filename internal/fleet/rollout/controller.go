// Package rollout runs the fleet's rollouts (issue 13 parts 4 and 5,
// docs/lifecycle.md "Rollouts") on the durable workflow engine
// (internal/workflow): a rollout's run plans its partitions, stages the
// bundle version on one partition at a time (max-unavailable clusters at
// once), waits for the sites' agents to report the release ready, bakes,
// opens the gates (time window, manual approval) and goes on; a cluster
// that fails or stays not ready halts it, and the clusters it moved are
// put back to the version they had, recorded as a forward change.
//
// What a cluster should run is kept per bundle in the store's metadata
// (Deployments): the deployments' staged-version, which the fleet's edge
// source turns into the cluster's helm-release object, and what their
// state (config false) shows, reconciled from the agents' reports.
package rollout

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/workflow"
)

var (
	reconcilersMu sync.Mutex
	reconcilers   = map[*config.Engine]*Reconciler{}
)

func reconcilerFor(eng *config.Engine, hub *edge.Hub, m *Metrics) *Reconciler {
	reconcilersMu.Lock()
	defer reconcilersMu.Unlock()
	if rc, ok := reconcilers[eng]; ok {
		return rc
	}
	rc := &Reconciler{Engine: eng, Hub: hub, Metrics: m}
	reconcilers[eng] = rc
	return rc
}

// Controller starts a rollout's run when it is declared or changed
// (superseding the run of its previous declaration), cancels the run of a
// rollout deleted, keeps the deployments' state reconciled, and shows
// ended runs' status again after a restart (the embedded store forgets
// operational state). It runs on the leader, beside the workflow runner.
type Controller struct {
	Engine   *config.Engine
	Workflow *workflow.Engine
	Hub      *edge.Hub
	Metrics  *Metrics
	Log      *slog.Logger
}

// Run runs the controller until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	rc := reconcilerFor(c.Engine, c.Hub, c.Metrics)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// A commit (a rollout declared or changed) is acted on at once; the
	// tick reconciles the agents' reports (operational state, no commit).
	var commits <-chan *config.Record
	if w, err := c.Engine.Watch(ctx, c.Engine.Snapshot().Index); err == nil {
		commits = w.C
	}
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.Log.Warn("rollouts: a pass failed; retried", "error", err)
		}
		if err := rc.Pass(ctx); err != nil && ctx.Err() == nil {
			c.Log.Warn("rollouts: reconciling the deployments failed; retried", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case _, ok := <-commits:
			if !ok {
				commits = nil // the watch ended (it fell behind): the tick goes on
			}
		}
	}
}

// Pass starts and supersedes runs as the declared rollouts say.
func (c *Controller) Pass(ctx context.Context) error {
	set := c.Engine.Schema().Set(fleet.SetName, "")
	if set == nil {
		return nil
	}
	snap := c.Engine.Snapshot()
	meta := c.Engine.Meta()
	declared := map[string]bool{}
	var errs []error
	for _, id := range fleet.Rollouts(snap, set) {
		declared[id] = true
		o, _ := snap.Get(fleet.RolloutKey(set, id))
		_, gen := snap.Tree(o)
		want := RunID(id, gen)
		cur, err := meta.GetMeta(currentPrefix + id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case string(cur) == want || strings.HasPrefix(string(cur), want+"-rollback-"):
			c.showEnded(ctx, string(cur))
			continue
		case cur != nil:
			c.supersede(string(cur), "superseded by "+want+": the rollout's declaration changed")
		}
		_, err = c.Workflow.Start(Kind, want, fleet.RolloutPath(set, id), stepPlan, &state{Rollout: id, Phase: "planned"})
		if err != nil && !errors.Is(err, workflow.ErrExists) {
			errs = append(errs, err)
			continue
		}
		if err := meta.PutMeta(currentPrefix+id, []byte(want)); err != nil {
			errs = append(errs, err)
		}
		c.Log.Info("rollout started", "rollout", id, "workflow", want)
	}
	err := meta.Metas(currentPrefix, func(key string, run []byte) error {
		id := key[len(currentPrefix):]
		if declared[id] {
			return nil
		}
		c.supersede(string(run), "the rollout was deleted")
		return meta.DeleteMeta(key)
	})
	return errors.Join(append(errs, err)...)
}

func (c *Controller) supersede(run, reason string) {
	if _, err := c.Workflow.Cancel(run, reason); err != nil && !errors.Is(err, workflow.ErrEnded) && !errors.Is(err, workflow.ErrNotFound) {
		c.Log.Warn("rollouts: cancelling a superseded run failed", "workflow", run, "error", err)
	}
}

// showEnded writes an ended run's status (a running run writes its own).
func (c *Controller) showEnded(ctx context.Context, run string) {
	r, err := c.Workflow.Get(run)
	if err != nil || !r.Ended() {
		return
	}
	st := &state{}
	if r.Decode(st) == nil {
		_ = writeStatus(ctx, c.Engine, r.ID, st, "")
	}
}
