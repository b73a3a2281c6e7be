package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/release"
	"github.com/amp-edge/amp/internal/workflow"
)

// Kind is the workflow kind of a rollout.
const Kind = "fleet-rollout"

// Step names; the partition's index (0-based) follows a slash.
const (
	stepPlan     = "plan"
	stepDeploy   = "deploy"
	stepBake     = "bake"
	stepGate     = "gate"
	stepRollback = "rollback"
)

// Poll is how often a waiting step looks again (agents' reports, gates).
const Poll = 200 * time.Millisecond

// state is a rollout run's durable data (the workflow's record).
type state struct {
	Rollout string `json:"rollout"`
	Plan    *Plan  `json:"plan,omitempty"`
	// Prev is each planned cluster's staged version before the rollout
	// ("": none): what a rollback puts back.
	Prev map[string]string `json:"prev,omitempty"`
	// Moved are the clusters staged with the new version, in order.
	Moved []string `json:"moved,omitempty"`
	// StagedAt is when each moved cluster was staged (its ready timeout
	// runs from then).
	StagedAt map[string]time.Time `json:"staged-at,omitempty"`
	Skipped  map[string]string    `json:"skipped,omitempty"` // cluster → reason
	Parts    []partState          `json:"parts,omitempty"`
	Phase    string               `json:"phase"`
	Halted   string               `json:"halted,omitempty"`
	History  []event              `json:"history,omitempty"`
	// GateOpen is when the current partition's gate opened (the promote
	// time is measured from it).
	GateOpen time.Time `json:"gate-open,omitzero"`
	// Unprepared: the version's chart was not prepared yet at the last
	// deploy step (its staged clusters get no release until it is).
	Unprepared bool `json:"unprepared,omitempty"`
}

type partState struct {
	State     string    `json:"state"` // pending, deploying, baking, done, halted
	Started   time.Time `json:"started,omitzero"`
	BakeUntil time.Time `json:"bake-until,omitzero"`
	// NextMetric is when the stage's metric gate is evaluated next
	// (zero: at once, so every bake evaluates it at least once).
	NextMetric time.Time `json:"next-metric,omitzero"`
}

type event struct {
	At        time.Time `json:"at"`
	Event     string    `json:"event"`
	Partition int       `json:"partition"` // 1-based; 0: the rollout
	Detail    string    `json:"detail,omitempty"`
}

func (s *state) record(now time.Time, ev string, part int, detail string) {
	s.History = append(s.History, event{At: now, Event: ev, Partition: part, Detail: detail})
	if n := len(s.History); n > 500 {
		s.History = s.History[n-500:]
	}
}

func init() {
	workflow.Register(workflow.Kind{Name: Kind, Step: step, Cancelled: cancelled})
}

// RunID names the run of a rollout's generation (the index of the newest
// change to its declaration).
func RunID(rollout string, generation uint64) string {
	return "rollout-" + rollout + "-" + strconv.FormatUint(generation, 10)
}

// splitStep reads "deploy/2".
func splitStep(s string) (string, int) {
	name, idx, ok := strings.Cut(s, "/")
	if !ok {
		return name, 0
	}
	i, _ := strconv.Atoi(idx)
	return name, i
}

// stepper is one step's context.
type stepper struct {
	env workflow.Env
	run *workflow.Run
	st  *state
	hub *edge.Hub
	m   *Metrics
	now time.Time
	dep Deployments
	rc  *Reconciler
}

func step(ctx context.Context, env workflow.Env, r *workflow.Run) (workflow.Outcome, error) {
	st := &state{}
	if err := r.Decode(st); err != nil {
		return workflow.Outcome{}, err
	}
	if st.StagedAt == nil { // empty maps are left out of the record
		st.StagedAt = map[string]time.Time{}
	}
	if st.Skipped == nil {
		st.Skipped = map[string]string{}
	}
	if st.Prev == nil {
		st.Prev = map[string]string{}
	}
	hub, err := edge.For(env.Engine, env.Metrics)
	if err != nil {
		return workflow.Outcome{}, err
	}
	s := &stepper{env: env, run: r, st: st, hub: hub, m: MetricsFor(env.Metrics), now: env.Now().UTC(),
		dep: Deployments{Meta: env.Engine.Meta()}}
	s.rc = reconcilerFor(env.Engine, hub, s.m)
	name, i := splitStep(r.Step)
	var out workflow.Outcome
	if name != stepPlan && name != stepRollback {
		if by, asked, err := takeRollback(env.Engine.Meta(), st.Rollout); err != nil {
			return out, err
		} else if asked {
			s.m.Halts.WithLabelValues("manual").Inc()
			out = s.halt(-1, "rolled back by hand by "+by)
			return s.finish(ctx, out)
		}
	}
	switch name {
	case stepPlan:
		out, err = s.plan(ctx)
	case stepDeploy:
		out, err = s.deploy(ctx, i)
	case stepBake:
		out, err = s.bake(ctx, i)
	case stepGate:
		out, err = s.gate(i)
	case stepRollback:
		out, err = s.rollback(ctx)
	default:
		return out, fmt.Errorf("unknown step %q", r.Step)
	}
	if err != nil {
		return out, err
	}
	return s.finish(ctx, out)
}

// finish stores the data with the outcome and shows the status.
func (s *stepper) finish(ctx context.Context, out workflow.Outcome) (workflow.Outcome, error) {
	out.Data = s.st
	if err := writeStatus(ctx, s.env.Engine, s.run.ID, s.st, out.WaitingOn); err != nil {
		return out, err
	}
	return out, nil
}

func (s *stepper) plan(ctx context.Context) (workflow.Outcome, error) {
	set := s.env.Engine.Schema().Set(fleet.SetName, "")
	p, err := MakePlan(s.env.Engine.Snapshot(), set, s.st.Rollout)
	if err != nil {
		return workflow.Outcome{Fail: err.Error()}, nil
	}
	s.st.Plan, s.st.Prev, s.st.StagedAt, s.st.Skipped = p, map[string]string{}, map[string]time.Time{}, map[string]string{}
	s.st.Parts = make([]partState, len(p.Partitions))
	for i := range s.st.Parts {
		s.st.Parts[i].State = "pending"
	}
	err = s.dep.Update(p.Bundle, func(m map[string]Entry) {
		for i, pt := range p.Partitions {
			for _, c := range pt.Clusters {
				e := m[c]
				s.st.Prev[c] = e.Staged
				e.Planned, e.Note = p.Version, fmt.Sprintf("version %s planned in partition %d/%d (%s %s) of rollout %s", p.Version, i+1, len(p.Partitions), p.Stages[pt.Stage].Group, pt.Name, s.st.Rollout)
				m[c] = e
			}
		}
		for _, u := range p.Unmatched {
			c, _, _ := strings.Cut(u, " ")
			if slices.ContainsFunc(p.Partitions, func(pt Partition) bool { return slices.Contains(pt.Clusters, c) }) {
				continue // unmatched: last-partition
			}
			e := m[c]
			e.Note = fmt.Sprintf("not deployed: no partition of rollout %s takes this cluster (unmatched: skip)", s.st.Rollout)
			m[c] = e
			s.st.Skipped[c] = "unmatched by every partition of its stage"
			s.m.Skipped.WithLabelValues("unmatched").Inc()
		}
	})
	if err != nil {
		return workflow.Outcome{}, err
	}
	if _, err := s.rc.Bundle(ctx, p.Bundle); err != nil {
		return workflow.Outcome{}, err
	}
	detail := fmt.Sprintf("%d partition(s), %d cluster(s)", len(p.Partitions), len(s.st.Prev))
	if len(p.Unmatched) > 0 {
		detail += "; unmatched: " + strings.Join(p.Unmatched, ", ")
	}
	s.st.record(s.now, "planned", 0, detail)
	s.st.Phase, s.st.GateOpen = "planned", s.now
	if len(p.Partitions) == 0 {
		s.st.Phase = "done"
		s.st.record(s.now, "done", 0, "no cluster to deploy to")
		return workflow.Outcome{Done: true, Note: "no cluster to deploy to"}, nil
	}
	return workflow.Outcome{Next: stepDeploy + "/0", Note: detail}, nil
}

// deploy upgrades partition i a wave of max-unavailable clusters at a
// time: each wave's clusters are staged, and the next starts when they
// are ready at the version. A cluster whose agent is not connected is
// waited for up to offline-wait, then skipped and reported. A cluster
// that fails, or is not ready within ready-timeout, halts the rollout.
func (s *stepper) deploy(ctx context.Context, i int) (workflow.Outcome, error) {
	p := s.st.Plan
	pt, ps := p.Partitions[i], &s.st.Parts[i]
	stage := p.Stages[pt.Stage]
	if ps.Started.IsZero() {
		ps.Started, ps.State = s.now, "deploying"
	}
	s.st.Phase = "deploying"
	why, failed := release.Blocked(s.dep.Meta, p.Bundle, p.Version)
	if failed {
		// No site can run it: no cluster staged it would become ready.
		s.m.Halts.WithLabelValues("unavailable").Inc()
		return s.halt(i, fmt.Sprintf("version %s cannot be released: %s", p.Version, why)), nil
	}
	if why == "" && s.st.Unprepared {
		// The chart was prepared since the clusters were staged (a push's
		// rollout set before its chart was ready): their deployments are
		// reconciled now, which sends them the release, rather than at
		// the controller's next tick.
		if _, err := s.rc.Bundle(ctx, p.Bundle); err != nil {
			return workflow.Outcome{}, err
		}
	}
	s.st.Unprepared = why != ""
	inflight := 0
	var waiting []string
	for _, c := range pt.Clusters {
		if _, moved := s.st.StagedAt[c]; !moved {
			continue
		}
		rel := ReleaseOf(s.hub, c, release.Names(s.dep.Meta, p.Bundle, p.Version))
		switch {
		case rel.FailedAt(p.Version, s.st.StagedAt[c]):
			s.m.Halts.WithLabelValues("unavailable").Inc()
			return s.halt(i, fmt.Sprintf("cluster %s failed at version %s: %s", c, p.Version, rel.Message)), nil
		case rel.Good(p.Version):
		case s.now.Sub(s.st.StagedAt[c]) > stage.ReadyTimeout:
			s.m.Halts.WithLabelValues("unavailable").Inc()
			return s.halt(i, fmt.Sprintf("cluster %s not ready at version %s after %s: %s", c, p.Version, stage.ReadyTimeout, describe(rel))), nil
		default:
			inflight++
			waiting = append(waiting, c)
		}
	}
	budget := maxUnavailable(stage, len(pt.Clusters)) - inflight
	var toStage, offline []string
	for _, c := range pt.Clusters {
		if _, moved := s.st.StagedAt[c]; moved || s.st.Skipped[c] != "" {
			continue
		}
		if st, err := s.hub.Status(c, false); err != nil || !st.Connected {
			if s.now.Sub(ps.Started) >= stage.OfflineWait {
				s.st.Skipped[c] = fmt.Sprintf("offline for the %s partition %d waits (offline-wait): not deployed", stage.OfflineWait, i+1)
				s.st.record(s.now, "skipped", i+1, c+": "+s.st.Skipped[c])
				s.m.Skipped.WithLabelValues("offline").Inc()
				if err := s.note(c, fmt.Sprintf("skipped by rollout %s: the agent was offline for %s (offline-wait)", s.st.Rollout, stage.OfflineWait)); err != nil {
					return workflow.Outcome{}, err
				}
			} else {
				offline = append(offline, c)
			}
			continue
		}
		if budget > 0 {
			toStage = append(toStage, c)
			budget--
		} else {
			waiting = append(waiting, c)
		}
	}
	if len(toStage) > 0 {
		if err := s.stage(ctx, toStage, fmt.Sprintf("rollout %s, partition %d/%d", s.st.Rollout, i+1, len(p.Partitions))); err != nil {
			return workflow.Outcome{}, err
		}
		if !s.st.GateOpen.IsZero() {
			s.m.Promote.Observe(s.now.Sub(s.st.GateOpen).Seconds())
			s.st.GateOpen = time.Time{}
		}
		waiting = append(waiting, toStage...)
	}
	if len(waiting) == 0 && len(offline) == 0 {
		ps.State, ps.BakeUntil = "baking", s.now.Add(stage.Bake)
		s.st.Phase = "baking"
		s.st.record(s.now, "deployed", i+1, fmt.Sprintf("%s: %s ready at %s", pt.Name, strings.Join(s.ready(pt), ", "), p.Version))
		s.m.Partitions.WithLabelValues("deployed").Inc()
		return workflow.Outcome{Next: fmt.Sprintf("%s/%d", stepBake, i), Note: "every cluster ready"}, nil
	}
	on := fmt.Sprintf("partition %d/%d (%s): %s", i+1, len(p.Partitions), pt.Name, waitList("ready", waiting))
	if len(offline) > 0 {
		on += "; " + waitList("offline, waited for up to "+stage.OfflineWait.String(), offline)
	}
	return workflow.Outcome{Wait: Poll, WaitingOn: on}, nil
}

// ready lists the partition's clusters not skipped.
func (s *stepper) ready(pt Partition) []string {
	var out []string
	for _, c := range pt.Clusters {
		if s.st.Skipped[c] == "" {
			out = append(out, c)
		}
	}
	return out
}

func waitList(what string, cs []string) string {
	if len(cs) > 5 {
		return fmt.Sprintf("%s, … (%d clusters) %s", strings.Join(cs[:5], ", "), len(cs), what)
	}
	return strings.Join(cs, ", ") + " " + what
}

func describe(r Release) string {
	switch {
	case !r.Connected:
		return "its agent is not connected"
	case !r.Reported:
		return "its agent reports no release yet"
	case r.Message != "":
		return fmt.Sprintf("%s at %s: %s", r.State, orNone(r.Version), r.Message)
	}
	return fmt.Sprintf("%s at %s, not ready", r.State, orNone(r.Version))
}

// stage sets the new version as the clusters' staged version, recording
// them as moved first (a crash in between re-stages the same: idempotent).
func (s *stepper) stage(ctx context.Context, clusters []string, note string) error {
	p := s.st.Plan
	for _, c := range clusters {
		if _, ok := s.st.StagedAt[c]; !ok {
			s.st.Moved = append(s.st.Moved, c)
		}
		s.st.StagedAt[c] = s.now
	}
	helmTest := false
	for _, pt := range p.Partitions {
		if slices.Contains(pt.Clusters, clusters[0]) {
			helmTest = p.Stages[pt.Stage].HelmTest
		}
	}
	err := s.dep.Update(p.Bundle, func(m map[string]Entry) {
		for _, c := range clusters {
			m[c] = Entry{Staged: p.Version, Note: "staged by " + note, HelmTest: helmTest}
		}
	})
	if err != nil {
		return err
	}
	_, err = s.rc.Bundle(ctx, p.Bundle)
	return err
}

// note sets a cluster's deployment note, leaving what is staged.
func (s *stepper) note(c, note string) error {
	return s.dep.Update(s.st.Plan.Bundle, func(m map[string]Entry) {
		e := m[c]
		e.Planned, e.Note = "", note
		m[c] = e
	})
}

// bake keeps partition i's clusters ready for the stage's bake time, and
// its metric gate holding: a cluster failing or going not ready, or the
// query not holding, halts the rollout.
func (s *stepper) bake(ctx context.Context, i int) (workflow.Outcome, error) {
	p := s.st.Plan
	pt, ps := p.Partitions[i], &s.st.Parts[i]
	stage := p.Stages[pt.Stage]
	s.st.Phase = "baking"
	for _, c := range s.ready(pt) {
		if rel := ReleaseOf(s.hub, c, release.Names(s.dep.Meta, p.Bundle, p.Version)); rel.Connected && !rel.Good(p.Version) {
			s.m.Halts.WithLabelValues("bake").Inc()
			return s.halt(i, fmt.Sprintf("cluster %s is no longer ready at %s during the bake: %s", c, p.Version, describe(rel))), nil
		}
	}
	if stage.Query != "" && !s.now.Before(ps.NextMetric) {
		ok, why, err := queryHolds(ctx, stage.Prometheus, stage.Query)
		if err != nil {
			why = "could not be evaluated: " + err.Error()
		}
		if !ok {
			s.m.Halts.WithLabelValues("metric").Inc()
			return s.halt(i, fmt.Sprintf("the metric gate %q did not hold during the bake: %s", stage.Query, why)), nil
		}
		ps.NextMetric = s.now.Add(stage.MetricInterval)
	}
	if s.now.Before(ps.BakeUntil) {
		return workflow.Outcome{Wait: min(Poll, ps.BakeUntil.Sub(s.now)), WaitingOn: fmt.Sprintf("partition %d/%d bakes until %s", i+1, len(p.Partitions), ps.BakeUntil.Format(time.RFC3339))}, nil
	}
	ps.State = "done"
	s.st.record(s.now, "baked", i+1, fmt.Sprintf("ready for %s", p.Stages[pt.Stage].Bake))
	s.m.Partitions.WithLabelValues("baked").Inc()
	if i == len(p.Partitions)-1 {
		return s.done()
	}
	return workflow.Outcome{Next: fmt.Sprintf("%s/%d", stepGate, i), Note: "baked"}, nil
}

// done ends the rollout: every planned cluster runs the version (or was
// skipped and reported).
func (s *stepper) done() (workflow.Outcome, error) {
	p := s.st.Plan
	err := s.dep.Update(p.Bundle, func(m map[string]Entry) {
		for c, e := range m {
			if e.Planned == p.Version {
				e.Planned = ""
				m[c] = e
			}
		}
	})
	s.st.Phase = "done"
	detail := fmt.Sprintf("%d cluster(s) at %s", len(s.st.Moved), p.Version)
	if len(s.st.Skipped) > 0 {
		detail += fmt.Sprintf("; %d skipped (see skipped)", len(s.st.Skipped))
	}
	s.st.record(s.now, "done", 0, detail)
	return workflow.Outcome{Done: true, Note: detail}, err
}

// gate holds the partition after i until the gates of i's stage open: its
// time window, then a manual approval.
func (s *stepper) gate(i int) (workflow.Outcome, error) {
	p := s.st.Plan
	stage := p.Stages[p.Partitions[i].Stage]
	s.st.Phase = "gated"
	if ok, why := inWindow(stage, s.now); !ok {
		return workflow.Outcome{Wait: Poll, WaitingOn: fmt.Sprintf("before partition %d/%d: %s", i+2, len(p.Partitions), why)}, nil
	}
	if stage.Approval {
		by, ok, err := approval(s.env.Engine.Meta(), s.run.ID, i)
		if err != nil {
			return workflow.Outcome{}, err
		}
		if !ok {
			return workflow.Outcome{Wait: Poll, WaitingOn: fmt.Sprintf("an approval before partition %d/%d (amp fleet approve %s)", i+2, len(p.Partitions), s.st.Rollout)}, nil
		}
		s.st.record(s.now, "approved", i+2, "by "+by)
	}
	s.st.GateOpen = s.now
	return workflow.Outcome{Next: fmt.Sprintf("%s/%d", stepDeploy, i+1), Note: "gate open"}, nil
}

// halt stops the rollout at partition i (-1: wherever it was) for reason;
// the rollback step puts the moved clusters back.
func (s *stepper) halt(i int, reason string) workflow.Outcome {
	s.st.Phase, s.st.Halted = "halted", reason
	if i >= 0 {
		s.st.Parts[i].State = "halted"
		s.m.Partitions.WithLabelValues("halted").Inc()
	}
	s.st.record(s.now, "halted", i+1, reason)
	return workflow.Outcome{Next: stepRollback, Note: reason}
}

// rollback puts every moved cluster back to the version it had before the
// rollout (none: the release is removed), a forward change recorded with
// the reason; the run then ends failed with it.
func (s *stepper) rollback(ctx context.Context) (workflow.Outcome, error) {
	p := s.st.Plan
	err := s.dep.Update(p.Bundle, func(m map[string]Entry) {
		for _, c := range s.st.Moved {
			m[c] = Entry{Staged: s.st.Prev[c], Note: fmt.Sprintf("rolled back from %s by rollout %s: %s", p.Version, s.st.Rollout, s.st.Halted), HelmTest: m[c].HelmTest}
		}
		for c, e := range m {
			if e.Planned == p.Version {
				e.Planned, e.Note = "", fmt.Sprintf("not deployed: rollout %s halted: %s", s.st.Rollout, s.st.Halted)
				m[c] = e
			}
		}
	})
	if err != nil {
		return workflow.Outcome{}, err
	}
	if _, err := s.rc.Bundle(ctx, p.Bundle); err != nil {
		return workflow.Outcome{}, err
	}
	var back []string
	for _, c := range s.st.Moved {
		back = append(back, c+" → "+orNone(s.st.Prev[c]))
	}
	s.st.Phase = "rolled-back"
	s.st.record(s.now, "rolled-back", 0, fmt.Sprintf("%s (reason: %s)", strings.Join(back, ", "), s.st.Halted))
	return workflow.Outcome{Fail: "halted and rolled back: " + s.st.Halted}, nil
}

// cancelled records a cancelled run in the rollout's status; the clusters
// stay as they are (amp fleet rollback puts them back).
func cancelled(ctx context.Context, env workflow.Env, r *workflow.Run, reason string) error {
	st := &state{}
	if err := r.Decode(st); err != nil {
		return err
	}
	now := env.Now().UTC()
	st.Phase = "cancelled"
	st.record(now, "cancelled", 0, reason+"; clusters left as they are (amp fleet rollback puts the moved ones back)")
	if st.Plan != nil {
		err := (Deployments{Meta: env.Engine.Meta()}).Update(st.Plan.Bundle, func(m map[string]Entry) {
			for c, e := range m {
				if e.Planned == st.Plan.Version {
					e.Planned, e.Note = "", "not deployed: rollout "+st.Rollout+" cancelled"
					m[c] = e
				}
			}
		})
		if err != nil {
			return err
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	r.Data = b
	return writeStatus(ctx, env.Engine, r.ID, st, "")
}
