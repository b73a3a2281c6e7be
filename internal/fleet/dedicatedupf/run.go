package dedicatedupf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/release"
	"github.com/amp-edge/amp/internal/fleet/rollout"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/workflow"
)

// Kind is the workflow kind of a slice's dedicated UPF.
const Kind = "dedicated-upf"

// The steps, in order; undo replaces the rest when one fails.
const (
	stepDeploy = "deploy" // the release's bundle declared and staged on the cluster
	stepReady  = "ready"  // waits for the agent to report it ready
	stepBind   = "bind"   // the UPF object and the slice's upf, one transaction
	stepUndo   = "undo"   // the release removed, then the run fails
	// stepRemove starts a teardown run: a ready UPF whose slice withdrew
	// its request (or asked for another) is unbound and removed.
	stepRemove = "remove"
)

// Bounds of the waits: a release not ready within ReadyTimeout fails the
// run; an undo waits at most UndoTimeout for the agent to report the
// release gone (an offline site removes it when it comes back).
const (
	ReadyTimeout = 10 * time.Minute
	UndoTimeout  = 5 * time.Minute
	Poll         = 500 * time.Millisecond
)

// DefaultPort is the UPF's PFCP port when the chart's values name none.
const DefaultPort = 8805

// state is a run's durable data.
type state struct {
	Slice
	Request
	Cluster   string    `json:"cluster,omitempty"`
	Release   string    `json:"release,omitempty"`
	Version   string    `json:"release-version,omitempty"` // the version staged
	Namespace string    `json:"namespace,omitempty"`
	StagedAt  time.Time `json:"staged-at,omitzero"`
	// Failure is why the run is undoing; UndoAt when the undo began.
	Failure string    `json:"failure,omitempty"`
	UndoAt  time.Time `json:"undo-at,omitzero"`
}

func init() {
	workflow.Register(workflow.Kind{Name: Kind, Step: step, Cancelled: cancelled})
}

// stepper is one step's context.
type stepper struct {
	env  workflow.Env
	run  *workflow.Run
	st   *state
	snap *config.Snapshot
	now  time.Time
}

func newStepper(env workflow.Env, r *workflow.Run) (*stepper, error) {
	st := &state{}
	if err := r.Decode(st); err != nil {
		return nil, err
	}
	return &stepper{env: env, run: r, st: st, snap: env.Engine.Snapshot(), now: env.Now().UTC()}, nil
}

func step(ctx context.Context, env workflow.Env, r *workflow.Run) (workflow.Outcome, error) {
	s, err := newStepper(env, r)
	if err != nil {
		return workflow.Outcome{}, err
	}
	switch r.Step {
	case stepDeploy:
		return s.deploy(ctx)
	case stepReady:
		return s.ready(ctx)
	case stepBind:
		return s.bind(ctx)
	case stepUndo:
		return s.undo(ctx)
	case stepRemove:
		return s.teardown(ctx)
	}
	return workflow.Outcome{}, fmt.Errorf("no step %q in kind %s", r.Step, Kind)
}

// fail moves the run to undo for reason (nothing to undo before the
// release's bundle is declared: the run fails at once).
func (s *stepper) fail(ctx context.Context, reason string) (workflow.Outcome, error) {
	if s.st.Release == "" {
		if err := s.status(ctx, "failed", reason); err != nil {
			return workflow.Outcome{}, err
		}
		return workflow.Outcome{Fail: reason, Data: s.st}, nil
	}
	s.st.Failure, s.st.UndoAt = reason, s.now
	if err := s.status(ctx, "pending", "removing the release: "+reason); err != nil {
		return workflow.Outcome{}, err
	}
	return workflow.Outcome{Next: stepUndo, Data: s.st, Note: reason}, nil
}

// deploy declares the release's bundle (the asked bundle's source, its
// values naming the slice) and stages its version on the cluster.
func (s *stepper) deploy(ctx context.Context) (workflow.Outcome, error) {
	fset := s.snap.Schema().Set(fleet.SetName, "")
	aset := s.snap.Schema().Set(aetherSet, "")
	if fset == nil || aset == nil {
		return s.fail(ctx, "the fleet and aether model sets must both be loaded")
	}
	o, ok := s.snap.Get(s.st.key(aset))
	if !ok || asked(o) != s.st.Request {
		return s.fail(ctx, "the slice no longer asks for bundle "+s.st.Request.String())
	}
	cluster, err := clusterOf(s.snap, s.st.Slice)
	if err != nil {
		return s.fail(ctx, err.Error())
	}
	bo, ok := s.snap.Get(fleet.BundleKey(fset, s.st.Bundle))
	if !ok {
		return s.fail(ctx, fmt.Sprintf("there is no fleet bundle %q (dedicated-upf/bundle)", s.st.Bundle))
	}
	tree, _ := s.snap.Tree(bo)
	version := s.st.Request.Version
	if version == "" {
		version = currentVersion(s.snap, fset, tree)
	}
	if version == "" {
		return workflow.Outcome{Wait: Poll, WaitingOn: "bundle " + s.st.Bundle + " to have a version (its repo fetched)"}, nil
	}
	rel := s.st.Slice.Release()
	bundle, err := releaseBundle(tree, rel, s.st.Slice)
	if err != nil {
		return s.fail(ctx, err.Error())
	}
	if err := s.commit(ctx, schema.RESTBase(fset), map[string]any{"bundle": []any{bundle}}, config.OpMerge,
		fmt.Sprintf("dedicated UPF of slice %s: release %s of bundle %s", s.st.Slice, rel, s.st.Bundle)); err != nil {
		return workflow.Outcome{}, err
	}
	ns, _ := tree["namespace"].(string)
	if ns == "" {
		ns = "default"
	}
	s.st.Cluster, s.st.Release, s.st.Version, s.st.Namespace, s.st.StagedAt = cluster, rel, version, ns, s.now
	note := fmt.Sprintf("dedicated UPF of slice %s (workflow %s)", s.st.Slice, s.run.ID)
	err = rollout.Deployments{Meta: s.env.Engine.Meta()}.Update(rel, func(m map[string]rollout.Entry) {
		m[cluster] = rollout.Entry{Staged: version, Note: note}
	})
	if err != nil {
		return workflow.Outcome{}, err
	}
	if err := s.status(ctx, "pending", fmt.Sprintf("release %s (bundle %s version %s) staged on cluster %s", rel, s.st.Bundle, version, cluster)); err != nil {
		return workflow.Outcome{}, err
	}
	return workflow.Outcome{Next: stepReady, Data: s.st, Note: fmt.Sprintf("release %s version %s staged on cluster %s", rel, version, cluster)}, nil
}

// ready waits for the site's agent to report the release applied and
// ready at the staged version.
func (s *stepper) ready(ctx context.Context) (workflow.Outcome, error) {
	hub, err := edge.For(s.env.Engine, s.env.Metrics)
	if err != nil {
		return workflow.Outcome{}, err
	}
	r := rollout.ReleaseOf(hub, s.st.Cluster, release.Names(s.env.Engine.Meta(), s.st.Release, s.st.Version))
	blocked, chartFailed := release.Blocked(s.env.Engine.Meta(), s.st.Release, s.st.Version)
	switch {
	case chartFailed:
		return s.fail(ctx, blocked)
	case r.FailedAt(s.st.Version, s.st.StagedAt):
		return s.fail(ctx, fmt.Sprintf("release %s failed at cluster %s: %s", s.st.Release, s.st.Cluster, r.Message))
	case r.Good(s.st.Version):
		return workflow.Outcome{Next: stepBind, Data: s.st, Note: "ready at cluster " + s.st.Cluster}, nil
	case s.now.Sub(s.st.StagedAt) > ReadyTimeout:
		return s.fail(ctx, fmt.Sprintf("release %s was not ready at cluster %s within %s: %s", s.st.Release, s.st.Cluster, ReadyTimeout, waitingFor(r, blocked)))
	}
	why := waitingFor(r, blocked)
	if err := s.status(ctx, "pending", why); err != nil {
		return workflow.Outcome{}, err
	}
	return workflow.Outcome{Wait: Poll, WaitingOn: why}, nil
}

// waitingFor says what a release not yet ready waits for.
func waitingFor(r rollout.Release, blocked string) string {
	switch {
	case blocked != "":
		return blocked
	case !r.Connected:
		return "the cluster's agent is not connected"
	case !r.Reported:
		return "the agent has not reported the release yet"
	case r.Message != "":
		return "not ready: " + r.Message
	}
	return "the agent has not reported the release ready yet"
}

// bind creates the site's UPF object of the release and points the
// slice's upf at it, in one transaction.
func (s *stepper) bind(ctx context.Context) (workflow.Outcome, error) {
	aset := s.snap.Schema().Set(aetherSet, "")
	fset := s.snap.Schema().Set(fleet.SetName, "")
	o, ok := s.snap.Get(s.st.key(aset))
	if !ok || asked(o) != s.st.Request {
		return s.fail(ctx, "the slice no longer asks for bundle "+s.st.Request.String())
	}
	bo, ok := s.snap.Get(fleet.BundleKey(fset, s.st.Release))
	if !ok {
		return s.fail(ctx, "the release's bundle "+s.st.Release+" was deleted")
	}
	tree, _ := s.snap.Tree(bo)
	labels, _ := fleet.ClusterLabelsOf(s.snap, s.st.Cluster)
	values, err := release.ValuesFor(tree, labels)
	if err != nil {
		return s.fail(ctx, err.Error())
	}
	addr, port, err := endpoint(values, s.st.Release, s.st.Namespace)
	if err != nil {
		return s.fail(ctx, err.Error())
	}
	site := map[string]any{
		"site-id": s.st.Site,
		"upf": []any{map[string]any{"upf-id": s.st.Release, "address": addr, "port": port,
			"description": "dedicated UPF of slice " + s.st.Slice.Slice + " (release " + s.st.Release + " at cluster " + s.st.Cluster + ")"}},
		"slice": []any{map[string]any{"slice-id": s.st.Slice.Slice, "upf": s.st.Release}},
	}
	if err := s.commit(ctx, s.st.sitePath(aset), site, config.OpMerge,
		fmt.Sprintf("dedicated UPF of slice %s ready: upf %s (%s:%d)", s.st.Slice, s.st.Release, addr, port)); err != nil {
		// Refused (the slice changed under the run): undone, not retried.
		return s.fail(ctx, "the slice's upf could not be set: "+err.Error())
	}
	if err := s.status(ctx, "ready", fmt.Sprintf("upf %s (%s:%d), release %s version %s at cluster %s", s.st.Release, addr, port, s.st.Release, s.st.Version, s.st.Cluster)); err != nil {
		return workflow.Outcome{}, err
	}
	return workflow.Outcome{Done: true, Data: s.st, Note: fmt.Sprintf("slice upf = %s (%s:%d)", s.st.Release, addr, port)}, nil
}

// endpoint is the UPF's address and PFCP port: the chart's values
// upf.address and upf.port when it sets them, else the Service the chart
// names after its release, in the release's namespace, on DefaultPort.
func endpoint(values map[string]any, rel, ns string) (string, int, error) {
	addr, port := rel+"."+ns+".svc.cluster.local", DefaultPort
	u, _ := values["upf"].(map[string]any)
	if a, ok := u["address"].(string); ok && a != "" {
		addr = a
	}
	switch p := u["port"].(type) {
	case nil:
	case float64:
		port = int(p)
	case int:
		port = p
	case int64:
		port = int(p)
	default:
		return "", 0, fmt.Errorf("the chart's values upf.port is %v, not a port number", p)
	}
	if port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("the chart's values upf.port %d is not a port number", port)
	}
	return addr, port, nil
}

// teardown unbinds a ready UPF (the UPF object deleted, and the slice's
// upf when it still names it, in one transaction), removes the release
// and waits for the agent to report it gone.
func (s *stepper) teardown(ctx context.Context) (workflow.Outcome, error) {
	aset := s.snap.Schema().Set(aetherSet, "")
	o, _ := s.snap.Get(s.st.key(aset))
	withdrawn := o != nil && asked(o).Bundle == "" // not asking anew: the status is this run's
	if withdrawn {
		if err := s.status(ctx, "pending", "the request was withdrawn: removing upf "+s.st.Release+" and its release"); err != nil {
			return workflow.Outcome{}, err
		}
	}
	upfKey := schema.RootKey(aset, s.st.Enterprise) + "/site/" + schema.EscapeSegment(s.st.Site) + "/upf/" + schema.EscapeSegment(s.st.Release)
	if _, ok := s.snap.Get(upfKey); ok {
		var edits []config.Edit
		if o != nil && o.Data["upf"] == s.st.Release {
			loc, err := locate(s.env.Engine, s.st.path(aset)+"/upf")
			if err != nil {
				return workflow.Outcome{}, err
			}
			edits = append(edits, config.Edit{Op: config.OpDelete, Loc: loc})
		}
		loc, err := locate(s.env.Engine, s.st.sitePath(aset)+"/upf/"+schema.EscapeSegment(s.st.Release))
		if err != nil {
			return workflow.Outcome{}, err
		}
		edits = append(edits, config.Edit{Op: config.OpDelete, Loc: loc})
		_, err = component.Submit(ctx, s.env.Engine, &config.Request{Edits: edits, Principal: "workflow:" + s.run.ID, Source: "workflow",
			Message: fmt.Sprintf("dedicated UPF of slice %s withdrawn: upf %s removed", s.st.Slice, s.st.Release)})
		if err != nil {
			// Another slice uses the UPF now (a leafref refuses the delete):
			// the release stays, and the reason is shown.
			return workflow.Outcome{Fail: "upf " + s.st.Release + " could not be removed: " + err.Error()}, nil
		}
	}
	if s.st.UndoAt.IsZero() {
		s.st.UndoAt, s.st.Failure = s.now, "withdrawn"
	}
	if err := s.remove(ctx); err != nil {
		return workflow.Outcome{}, err
	}
	hub, err := edge.For(s.env.Engine, s.env.Metrics)
	if err != nil {
		return workflow.Outcome{}, err
	}
	if r := rollout.ReleaseOf(hub, s.st.Cluster, release.Names(s.env.Engine.Meta(), s.st.Release, s.st.Version)); r.Reported && r.Connected && s.now.Sub(s.st.UndoAt) <= UndoTimeout {
		return workflow.Outcome{Wait: Poll, WaitingOn: "the agent to report release " + s.st.Release + " removed", Data: s.st}, nil
	}
	note := "release " + s.st.Release + " removed from cluster " + s.st.Cluster
	if withdrawn {
		if err := s.status(ctx, "removed", "the request was withdrawn: upf and "+note); err != nil {
			return workflow.Outcome{}, err
		}
	}
	return workflow.Outcome{Done: true, Data: s.st, Note: note}, nil
}

// undo removes the release (its deployment and its bundle), waits for
// the agent to report it gone, and fails the run with the reason.
func (s *stepper) undo(ctx context.Context) (workflow.Outcome, error) {
	if err := s.remove(ctx); err != nil {
		return workflow.Outcome{}, err
	}
	hub, err := edge.For(s.env.Engine, s.env.Metrics)
	if err != nil {
		return workflow.Outcome{}, err
	}
	r := rollout.ReleaseOf(hub, s.st.Cluster, release.Names(s.env.Engine.Meta(), s.st.Release, s.st.Version))
	gone := "release " + s.st.Release + " uninstalled at cluster " + s.st.Cluster
	switch {
	case r.Reported && r.Connected && s.now.Sub(s.st.UndoAt) <= UndoTimeout:
		return workflow.Outcome{Wait: Poll, WaitingOn: "the agent to report release " + s.st.Release + " removed"}, nil
	case r.Reported:
		gone = "release " + s.st.Release + " removal requested (the agent of cluster " + s.st.Cluster + " has not confirmed it)"
	}
	reason := s.st.Failure + "; " + gone + ", slice unchanged"
	if err := s.status(ctx, "failed", reason); err != nil {
		return workflow.Outcome{}, err
	}
	return workflow.Outcome{Fail: reason, Data: s.st}, nil
}

// cancelled removes the release of a cancelled run; the agent uninstalls
// it at its next check-in.
func cancelled(ctx context.Context, env workflow.Env, r *workflow.Run, reason string) error {
	s, err := newStepper(env, r)
	if err != nil {
		return err
	}
	if err := s.remove(ctx); err != nil {
		return err
	}
	msg := "cancelled: " + reason
	if s.st.Release != "" {
		msg += "; release " + s.st.Release + " removed from cluster " + s.st.Cluster + ", slice unchanged"
	}
	return s.status(ctx, "cancelled", msg)
}

// remove unstages the release and deletes its bundle (idempotent).
func (s *stepper) remove(ctx context.Context) error {
	if s.st.Release == "" {
		return nil
	}
	err := rollout.Deployments{Meta: s.env.Engine.Meta()}.Update(s.st.Release, func(m map[string]rollout.Entry) {
		delete(m, s.st.Cluster)
	})
	if err != nil {
		return err
	}
	fset := s.snap.Schema().Set(fleet.SetName, "")
	if _, ok := s.snap.Get(fleet.BundleKey(fset, s.st.Release)); !ok {
		return nil
	}
	return s.commit(ctx, fleet.BundlePath(fset, s.st.Release), nil, config.OpDelete,
		fmt.Sprintf("dedicated UPF of slice %s removed: %s", s.st.Slice, orReason(s.st.Failure)))
}

func orReason(s string) string {
	if s == "" {
		return "the workflow was cancelled"
	}
	return s
}

// commit writes value at a REST path as the workflow.
func (s *stepper) commit(ctx context.Context, path string, value any, op config.Op, msg string) error {
	loc, err := locate(s.env.Engine, path)
	if err != nil {
		return err
	}
	var val any
	if op != config.OpDelete {
		if val, err = decode(loc, value, false); err != nil {
			return err
		}
	}
	_, err = component.Submit(ctx, s.env.Engine, &config.Request{
		Edits:     []config.Edit{{Op: op, Loc: loc, Value: val}},
		Principal: "workflow:" + s.run.ID, Source: "workflow", Message: msg,
	})
	return err
}

// status writes the slice's dedicated-upf/status (operational state).
func (s *stepper) status(ctx context.Context, st, msg string) error {
	return writeStatus(ctx, s.env.Engine, s.st.Slice, map[string]any{
		"state": st, "message": clip(msg, 2048), "workflow": s.run.ID, "cluster": s.st.Cluster,
		"release": s.st.Release, "updated": s.now.Format(time.RFC3339),
	})
}

// writeStatus replaces a slice's dedicated-upf/status unless it already
// says the same (the updated time aside), so a wait costs no write.
func writeStatus(ctx context.Context, eng *config.Engine, sl Slice, status map[string]any) error {
	aset := eng.Schema().Set(aetherSet, "")
	snap := eng.Snapshot()
	if _, ok := snap.Get(sl.key(aset)); !ok {
		return nil // the slice is gone: so is its state
	}
	for k, v := range status {
		if v == "" {
			delete(status, k)
		}
	}
	if cur, ok := snap.State.Get([]byte(sl.key(aset))); ok {
		d, _ := cur["dedicated-upf"].(map[string]any)
		if old, _ := d["status"].(map[string]any); sameStatus(old, status) {
			return nil
		}
	}
	loc, err := locate(eng, sl.path(aset)+"/dedicated-upf/status")
	if err != nil {
		return err
	}
	val, err := decode(loc, status, true)
	if err != nil {
		return err
	}
	return eng.SetState(ctx, loc, config.OpReplace, val)
}

func sameStatus(old, cur map[string]any) bool {
	if len(old) != len(cur) {
		return false
	}
	for k, v := range cur {
		if k != "updated" && fmt.Sprint(old[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

func locate(eng *config.Engine, path string) (*schema.Location, error) {
	route, err := eng.Schema().ParseRoute(path)
	if err != nil {
		return nil, err
	}
	return route.Resolve()
}

// decode turns a JSON-shaped value into the schema's canonical tree at loc.
func decode(loc *schema.Location, value any, state bool) (any, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return schema.DecodeJSON(loc.Node, v, loc.REST(), !state, schema.DecodeOptions{AllowState: state})
}

// currentVersion is the version of a bundle to deploy now: its chart's
// version, or the commit its repo was last fetched at.
func currentVersion(snap *config.Snapshot, set *schema.ModelSet, tree map[string]any) string {
	if c, ok := tree["chart"].(map[string]any); ok {
		v, _ := c["version"].(string)
		return v
	}
	g, _ := tree["git"].(map[string]any)
	repo, _ := g["repo"].(string)
	st, _ := snap.State.Get([]byte(schema.RootKey(set, "") + "/git-repo/" + schema.EscapeSegment(repo)))
	status, _ := st["status"].(map[string]any)
	rev, _ := status["revision"].(string)
	return rev
}

// releaseBundle is the declaration of the release's bundle: the asked
// bundle's source, namespace and targets, its values with dedicatedUpf
// {enterprise, site, slice, release} merged in, so the chart can name
// what it makes after the slice.
func releaseBundle(tree map[string]any, rel string, sl Slice) (map[string]any, error) {
	out := map[string]any{"bundle-id": rel}
	for _, k := range []string{"git", "chart", "namespace", "target"} {
		if v, ok := tree[k]; ok {
			out[k] = v
		}
	}
	text, _ := tree["values"].(string)
	values := map[string]any{}
	if err := yaml.Unmarshal([]byte(text), &values); err != nil {
		return nil, fmt.Errorf("bundle values: %v", err)
	}
	if values == nil {
		values = map[string]any{}
	}
	values["dedicatedUpf"] = map[string]any{"enterprise": sl.Enterprise, "site": sl.Site, "slice": sl.Slice, "release": rel}
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, err
	}
	out["values"] = string(b)
	return out, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
