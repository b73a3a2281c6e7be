package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestDeploymentState: the ranked state and its reason, from what AMP
// wants (the entry) and what the site's agent reports (the release).
func TestDeploymentState(t *testing.T) {
	up := Release{Connected: true, Reported: true, State: "applied", Version: "1.1.0", Ready: true}
	with := func(f func(r *Release)) Release { r := up; f(&r); return r }
	cases := []struct {
		name   string
		e      Entry
		r      Release
		state  string
		active string
	}{
		{"ready at the staged version", Entry{Staged: "1.1.0"}, up, "ready", "1.1.0"},
		{"not ready", Entry{Staged: "1.1.0"}, with(func(r *Release) { r.Ready, r.Message = false, "0/2 available" }), "not-ready", "1.1.0"},
		{"the site runs the previous version", Entry{Staged: "1.2.0"}, up, "out-of-sync", "1.1.0"},
		{"failed", Entry{Staged: "1.2.0"}, with(func(r *Release) { r.State, r.Version, r.Message = "failed", "1.2.0", "crash-looping" }), "error", ""},
		{"agent offline", Entry{Staged: "1.1.0"}, with(func(r *Release) { r.Connected = false }), "waiting", "1.1.0"},
		{"drift corrected", Entry{Staged: "1.1.0"}, with(func(r *Release) { r.Drift = true }), "modified", "1.1.0"},
		{"planned for a later partition", Entry{Staged: "1.1.0", Planned: "1.2.0", Note: "partition 3"}, up, "pending", "1.1.0"},
		{"never staged", Entry{Note: "unmatched"}, Release{Connected: true}, "pending", ""},
		{"the staged version's chart not prepared yet", Entry{Staged: "1.2.0"}, with(func(r *Release) { r.Blocked = "the chart of version 1.2.0 is not prepared yet" }), "pending", "1.1.0"},
		{"the staged version's chart failed", Entry{Staged: "1.2.0"}, with(func(r *Release) { r.Blocked, r.ChartFailed = "the chart does not render", true }), "error", "1.1.0"},
	}
	for _, c := range cases {
		d := deploymentOf("c1", c.e, c.r)
		if d["state"] != c.state || (d["active-version"] != nil && d["active-version"] != c.active) || (d["active-version"] == nil && c.active != "") {
			t.Errorf("%s: %v, want state %s, active %q", c.name, d, c.state, c.active)
		}
		if c.r.Blocked != "" && d["message"] != c.r.Blocked {
			t.Errorf("%s: message %q, want why the version cannot be sent", c.name, d["message"])
		}
	}
}

// TestReleasesOfSeveralCharts: a bundle of several charts is one
// deployment: ready when every release is applied and ready at the
// version, failed naming the release that failed, out of sync while one
// is not reported or runs another version, not ready naming the one that
// is not; a bundle of one chart reads as its release does.
func TestReleasesOfSeveralCharts(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	obj := func(name, state, version string, ready bool, msg string) map[string]any {
		return map[string]any{"kind": "helm-release", "name": name, "state": state, "version": version, "ready": ready, "message": msg, "at": at.Format(time.RFC3339)}
	}
	names := []string{"core-db", "core-web"}
	e := Entry{Staged: "v2"}
	cases := []struct {
		name    string
		states  []map[string]any
		state   string
		message string
	}{
		{"both ready", []map[string]any{obj("core-db", "applied", "v2", true, ""), obj("core-web", "applied", "v2", true, "")}, "ready", ""},
		{"web failed", []map[string]any{obj("core-db", "applied", "v2", true, ""), obj("core-web", "failed", "v2", false, "crash-looping")}, "error", "release core-web: crash-looping"},
		{"web not reported", []map[string]any{obj("core-db", "applied", "v2", true, "")}, "out-of-sync", "staged v2; the site reports none"},
		{"web at the old version", []map[string]any{obj("core-db", "applied", "v2", true, ""), obj("core-web", "applied", "v1", true, "")}, "out-of-sync", "staged v2; the site reports v1"},
		{"db not ready", []map[string]any{obj("core-db", "applied", "v2", false, "0/1 available"), obj("core-web", "applied", "v2", true, "")}, "not-ready", "release core-db: 0/1 available"},
		{"another bundle's release is not this one's", []map[string]any{obj("core-db", "applied", "v2", true, ""), obj("core-web", "applied", "v2", true, ""), obj("core-webx", "failed", "v2", false, "x")}, "ready", ""},
	}
	for _, c := range cases {
		r := releaseOf(true, c.states, names)
		d := deploymentOf("c1", e, r)
		if d["state"] != c.state || (c.message != "" && d["message"] != c.message) {
			t.Errorf("%s: %v, want %s %q", c.name, d, c.state, c.message)
		}
		if r.FailedAt("v2", at) != (c.state == "error") {
			t.Errorf("%s: FailedAt %v", c.name, r.FailedAt("v2", at))
		}
	}
	one := releaseOf(true, []map[string]any{obj("upf", "failed", "v2", false, "crash-looping")}, []string{"upf"})
	if one.State != "failed" || one.Message != "crash-looping" || one.Version != "v2" || !one.At.Equal(at) {
		t.Errorf("one chart: %+v", one)
	}
	if gone := releaseOf(true, nil, names); gone.Reported || deploymentOf("c1", Entry{}, gone)["state"] != "pending" {
		t.Errorf("removed: %+v", gone)
	}
}

// TestFailedAt: a failure counts against a version when reported for it,
// or reported since it was staged (an applier that keeps the old version
// running); an old failure of another version does not.
func TestFailedAt(t *testing.T) {
	staged := time.Date(2026, 12, 7, 12, 0, 0, 500, time.UTC)
	failed := Release{Reported: true, State: "failed", Version: "1.1.0", At: staged.Add(-time.Hour)}
	if failed.FailedAt("1.2.0", staged) {
		t.Errorf("an old failure of 1.1.0 should not count against 1.2.0")
	}
	if !failed.FailedAt("1.1.0", staged) {
		t.Errorf("a failure of 1.1.0 counts against 1.1.0")
	}
	failed.At = staged.Truncate(time.Second)
	if !failed.FailedAt("1.2.0", staged) {
		t.Errorf("a failure reported since 1.2.0 was staged counts against it")
	}
}

// TestDeploymentsShownWithTheBundle: the deployments, a config false list
// of a bundle, are written whole as the bundle's state and read back with
// it; a bundle that does not exist takes no state.
func TestDeploymentsShownWithTheBundle(t *testing.T) {
	eng, _ := testenv.Engine(t, false)
	apply(t, eng, fleet.SetName, `{"bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/a","name":"upf","version":"1.0.0"}}]}`)
	set := eng.Schema().Set(fleet.SetName, "")
	list := []any{map[string]any{"cluster": "c1", "staged-version": "1.1.0", "state": "out-of-sync", "message": "staged 1.1.0; the site reports none"}}
	if err := writeState(context.Background(), eng, fleet.BundlePath(set, "upf")+"/deployment", list); err != nil {
		t.Fatal(err)
	}
	o, _ := eng.Snapshot().Get(fleet.BundleKey(set, "upf"))
	tree, _ := eng.Snapshot().Tree(o)
	got, _ := tree["deployment"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["staged-version"] != "1.1.0" {
		t.Fatalf("the bundle reads back with its deployments: %v", tree)
	}
	if err := writeState(context.Background(), eng, fleet.BundlePath(set, "nope")+"/deployment", list); err == nil {
		t.Errorf("the deployments of a bundle that does not exist were accepted")
	}
}
