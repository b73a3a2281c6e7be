package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/workflow"
)

// Requests from the API to a running rollout are metadata keys of their
// own (any replica takes them; the leader's run honours them): an
// approval of a partition, a rollback by hand.
const (
	approvePrefix  = "fleet-approve/"  // + run id + "/" + gate index
	rollbackPrefix = "fleet-rollback/" // + rollout id
	currentPrefix  = "fleet-rollout-run/"
)

// Errors of the requests.
var (
	ErrNoRun       = errors.New("no run")
	ErrNotWaiting  = errors.New("not waiting for an approval")
	ErrNothingBack = errors.New("nothing to roll back")
)

// CurrentRun returns the workflow run of rollout id's current generation.
func CurrentRun(eng *config.Engine, wf *workflow.Engine, id string) (*workflow.Run, error) {
	b, err := eng.Meta().GetMeta(currentPrefix + id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrNoRun
	}
	return wf.Get(string(b))
}

// Approve approves the gate rollout id's run waits at, as by. It answers
// the partition (1-based) the approval lets start.
func Approve(eng *config.Engine, wf *workflow.Engine, id, by string) (int, error) {
	r, err := CurrentRun(eng, wf, id)
	if err != nil {
		return 0, err
	}
	name, i := splitStep(r.Step)
	if r.Ended() || name != stepGate {
		return 0, fmt.Errorf("%w: rollout %s is %s", ErrNotWaiting, id, describeRun(r))
	}
	if err := eng.Meta().PutMeta(approvePrefix+r.ID+"/"+strconv.Itoa(i), []byte(by)); err != nil {
		return 0, err
	}
	wf.Wake()
	return i + 2, nil
}

func describeRun(r *workflow.Run) string {
	if r.Ended() {
		return r.State
	}
	if r.Waiting != "" {
		return "waiting on " + r.Waiting
	}
	return "at step " + r.Step
}

// approval returns who approved gate i of run (ok false: nobody yet).
func approval(meta store.Meta, run string, i int) (string, bool, error) {
	b, err := meta.GetMeta(approvePrefix + run + "/" + strconv.Itoa(i))
	return string(b), b != nil, err
}

// Rollback asks rollout id to put back the clusters it moved, as by: a
// running rollout halts and rolls back; an ended one that moved clusters
// gets a new run that does only that. It returns the run that will.
func Rollback(eng *config.Engine, wf *workflow.Engine, id, by string) (*workflow.Run, error) {
	r, err := CurrentRun(eng, wf, id)
	if err != nil {
		return nil, err
	}
	if !r.Ended() {
		if err := eng.Meta().PutMeta(rollbackPrefix+id, []byte(by)); err != nil {
			return nil, err
		}
		wf.Wake()
		return r, nil
	}
	st := &state{}
	if err := r.Decode(st); err != nil {
		return nil, err
	}
	if st.Plan == nil || len(st.Moved) == 0 || st.Phase == "rolled-back" {
		return nil, fmt.Errorf("%w: rollout %s's last run (%s) moved no cluster that is not back already", ErrNothingBack, id, r.ID)
	}
	st.Halted, st.Phase = "rolled back by hand by "+by, "halted"
	st.record(time.Now().UTC(), "halted", 0, st.Halted)
	nr, err := wf.Start(Kind, r.ID+"-rollback-"+strconv.FormatInt(time.Now().Unix(), 10), r.Subject, stepRollback, st)
	if err != nil {
		return nil, err
	}
	return nr, eng.Meta().PutMeta(currentPrefix+id, []byte(nr.ID))
}

// takeRollback takes a rollback request for rollout id (who asked).
func takeRollback(meta store.Meta, id string) (string, bool, error) {
	b, err := meta.TakeMeta(rollbackPrefix + id)
	return string(b), b != nil, err
}
