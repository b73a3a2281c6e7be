package dedicatedupf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/workflow"
)

// currentPrefix keys, per slice, the run of its request (metadata, so it
// survives restarts and moves with backups).
const currentPrefix = "dedicated-upf/"

// current is what a slice's request started.
type current struct {
	Run string `json:"run"`
	Request
}

// Controller starts a run when a slice asks for a dedicated UPF (or for
// another bundle, superseding the run of the previous one), and cancels
// the run of a request withdrawn while it runs. It looks at the slices
// each commit changed; at start it looks at every slice, and shows ended
// runs' status again (the embedded store forgets operational state). It
// runs on the leader, beside the workflow runner.
type Controller struct {
	Engine   *config.Engine
	Workflow *workflow.Engine
	Log      *slog.Logger
}

// Run runs the controller until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	w, err := c.Engine.Watch(ctx, c.Engine.Snapshot().Index)
	if err != nil {
		return err
	}
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	failed := c.Pass(ctx, nil) != nil
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec, ok := <-w.C:
			if !ok { // the watch fell behind: look at every slice, then watch again
				if w, err = c.Engine.Watch(ctx, c.Engine.Snapshot().Index); err != nil {
					return err
				}
				failed = c.Pass(ctx, nil) != nil
				continue
			}
			if failed {
				failed = c.Pass(ctx, nil) != nil
			} else {
				failed = c.Pass(ctx, rec) != nil
			}
		case <-retry.C:
			if failed {
				failed = c.Pass(ctx, nil) != nil
			}
		}
	}
}

// Pass acts on the slices rec changed, or on every slice (rec nil).
func (c *Controller) Pass(ctx context.Context, rec *config.Record) error {
	aset := c.Engine.Schema().Set(aetherSet, "")
	if aset == nil {
		return nil
	}
	snap := c.Engine.Snapshot()
	var errs []error
	if rec != nil {
		for _, ch := range rec.Changes {
			if sl, ok := sliceOfKey(aset, ch.Key); ok {
				o, _ := snap.Get(ch.Key)
				errs = append(errs, c.slice(ctx, snap, aset, sl, o, false))
			}
		}
		return errors.Join(errs...)
	}
	seen := map[string]bool{}
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(aset.Name + "/" + aset.Version + "/"))
	for k, o, more := it.Next(); more; k, o, more = it.Next() {
		if sl, ok := sliceOfKey(aset, string(k)); ok {
			seen[string(k)] = true
			errs = append(errs, c.slice(ctx, snap, aset, sl, o, true))
		}
	}
	// Requests whose slice is gone.
	err := c.Engine.Meta().Metas(currentPrefix, func(key string, _ []byte) error {
		if k := key[len(currentPrefix):]; !seen[k] {
			if sl, ok := sliceOfKey(aset, k); ok {
				errs = append(errs, c.slice(ctx, snap, aset, sl, nil, true))
			}
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// slice acts on one slice (o nil: deleted); show: write an ended run's
// status again.
func (c *Controller) slice(ctx context.Context, snap *config.Snapshot, aset *schema.ModelSet, sl Slice, o *config.Object, show bool) error {
	meta := c.Engine.Meta()
	key := currentPrefix + sl.key(aset)
	var cur current
	if b, err := meta.GetMeta(key); err != nil {
		return err
	} else if b != nil {
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	want := asked(o)
	if want == cur.Request {
		if show && cur.Run != "" {
			c.showEnded(ctx, sl, cur.Run)
		}
		return nil
	}
	if cur.Run != "" {
		reason := "the slice asks for bundle " + want.String() + " now"
		if want.Bundle == "" {
			reason = "the slice no longer asks for a dedicated UPF"
		}
		if err := c.withdraw(snap, aset, sl, cur.Run, reason); err != nil {
			return err
		}
	}
	if want.Bundle == "" {
		return meta.DeleteMeta(key)
	}
	id := runID(sl, snap.Index)
	if _, err := c.Workflow.Start(Kind, id, sl.path(aset), stepDeploy, &state{Slice: sl, Request: want}); err != nil && !errors.Is(err, workflow.ErrExists) {
		return err
	}
	b, _ := json.Marshal(current{Run: id, Request: want})
	if err := meta.PutMeta(key, b); err != nil {
		return err
	}
	c.Log.Info("dedicated UPF requested", "slice", sl.String(), "bundle", want.String(), "workflow", id)
	return writeStatus(ctx, c.Engine, sl, map[string]any{"state": "pending", "message": "workflow " + id + " started",
		"workflow": id, "updated": time.Now().UTC().Format(time.RFC3339)})
}

// withdraw ends what run did for a request no longer made: a running
// run is cancelled (its cancel removes the release); the UPF of a run
// that succeeded is torn down by a run of its own.
func (c *Controller) withdraw(snap *config.Snapshot, aset *schema.ModelSet, sl Slice, run, reason string) error {
	r, err := c.Workflow.Get(run)
	if errors.Is(err, workflow.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if !r.Ended() {
		if _, err := c.Workflow.Cancel(run, reason); err != nil && !errors.Is(err, workflow.ErrEnded) {
			return err
		}
		return nil
	}
	if r.State != workflow.Succeeded {
		return nil
	}
	st := &state{}
	if err := r.Decode(st); err != nil {
		return err
	}
	_, err = c.Workflow.Start(Kind, fmt.Sprintf("remove-%s-%d", sl.Release(), snap.Index), sl.path(aset), stepRemove, st)
	if errors.Is(err, workflow.ErrExists) {
		return nil
	}
	return err
}

// runID names the run of a request made at index: the slice's release
// name (unique per slice) and the index.
func runID(sl Slice, index uint64) string {
	return fmt.Sprintf("dedicated-%s-%d", sl.Release(), index)
}

// showEnded writes an ended run's outcome as the slice's status (a
// running run writes its own).
func (c *Controller) showEnded(ctx context.Context, sl Slice, run string) {
	r, err := c.Workflow.Get(run)
	if err != nil || !r.Ended() {
		return
	}
	st := &state{}
	_ = r.Decode(st)
	state, msg := "ready", ""
	switch r.State {
	case workflow.Failed:
		state, msg = "failed", r.Reason
	case workflow.Cancelled:
		state, msg = "cancelled", "cancelled: "+r.Reason
	default:
		if n := len(r.History); n > 0 {
			msg = r.History[n-1].Note
		}
	}
	_ = writeStatus(ctx, c.Engine, sl, map[string]any{"state": state, "message": clip(msg, 2048), "workflow": run,
		"cluster": st.Cluster, "release": st.Release, "updated": r.Updated.UTC().Format(time.RFC3339)})
}
