package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
)

// rolloutFleet declares the sites of the rollout tests: one staging
// cluster and six production ones in three zones; prod-6's agent never
// connects (offline) and prod-5's zone is in no partition (unmatched).
const rolloutInventory = `{"cluster":[
 {"cluster-id":"staging-1","label":[{"name":"env","value":"staging"}]},
 {"cluster-id":"prod-1","label":[{"name":"env","value":"production"},{"name":"zone","value":"east"}]},
 {"cluster-id":"prod-2","label":[{"name":"env","value":"production"},{"name":"zone","value":"east"}]},
 {"cluster-id":"prod-3","label":[{"name":"env","value":"production"},{"name":"zone","value":"west"}]},
 {"cluster-id":"prod-4","label":[{"name":"env","value":"production"},{"name":"zone","value":"west"}]},
 {"cluster-id":"prod-5","label":[{"name":"env","value":"production"},{"name":"zone","value":"north"}]},
 {"cluster-id":"prod-6","label":[{"name":"env","value":"production"},{"name":"zone","value":"west"}]}]}`

// rolloutFleet: a bundle, the book's groups, and a rollout through them:
// staging (approval after it), then production by zone, east then west.
const rolloutFleet = `{
 "bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"},"namespace":"omec"}],
 "cluster-group":[{"group-id":"staging","match-label":[{"name":"env","value":"staging"}]},
                  {"group-id":"production","match-label":[{"name":"env","value":"production"}]}],
 "rollout":[{"rollout-id":"upf-r","bundle":"upf","version":"1.1.0","stage":[
   {"group":"staging","order":1,"bake-time":1,"manual-approval":true},
   {"group":"production","order":2,"partition":["zone=east","zone=west"],"bake-time":1,"offline-wait":3,"ready-timeout":60}]}]}`

// rolloutSites simulates the sites' agents: each enrols with a token and
// checks in over mTLS, as internal/agent does, reporting its helm-release
// "upf" at the version staged for it — applied and ready, or, for a
// version named "…-faulty", failed with a crash-looping pod. The Helm
// applier and the fleet's edge source are the site's part (another
// branch): here a site learns what is staged for it from the API.
type rolloutSites struct {
	t      *testing.T
	mu     sync.Mutex
	s      *testenv.Server
	agents map[string]*fleetAgent
	staged map[string]string               // cluster → the version staged now
	tested map[string]bool                 // cluster → its release runs Helm tests
	seen   map[string]map[string]time.Time // cluster → version → when first staged
	order  []string                        // "cluster@version" in the order first staged
}

func newRolloutSites(t *testing.T, s *testenv.Server, clusters ...string) *rolloutSites {
	rs := &rolloutSites{t: t, s: s, agents: map[string]*fleetAgent{}, staged: map[string]string{}, tested: map[string]bool{}, seen: map[string]map[string]time.Time{}}
	serverCA := x509.NewCertPool()
	caPEM, err := os.ReadFile(s.CA)
	if err != nil || !serverCA.AppendCertsFromPEM(caPEM) {
		t.Fatalf("the server's CA %s: %v", s.CA, err)
	}
	for i, c := range clusters {
		a := &fleetAgent{server: s.URL, cluster: c, source: loopbackSource(200 + i)}
		var tok struct{ Token string }
		if err := json.Unmarshal(s.Must(t, 201, "POST", "/clusters/"+c+"/tokens", `{"ttl":"1h"}`), &tok); err != nil {
			t.Fatal(err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c}}, key)
		if err != nil {
			t.Fatal(err)
		}
		a.key = key
		if a.enrolBody, err = json.Marshal(wire.RegisterRequest{Token: tok.Token, Cluster: c,
			CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}); err != nil {
			t.Fatal(err)
		}
		if err := a.enrol(serverCA); err != nil {
			t.Fatal(err)
		}
		a.connect(serverCA)
		rs.agents[c] = a
	}
	return rs
}

// run reads what is staged and checks every site in, until ctx ends.
func (rs *rolloutSites) run(ctx context.Context) {
	for ctx.Err() == nil {
		rs.mu.Lock()
		s := rs.s
		rs.mu.Unlock()
		code, b, _, err := s.Do(ctx, "GET", "/fleet/v1.0.0/bundle/upf", "")
		if err == nil && code == 200 {
			var bundle struct {
				Deployment []struct {
					Cluster  string `json:"cluster"`
					Staged   string `json:"staged-version"`
					HelmTest bool   `json:"helm-test"`
				} `json:"deployment"`
			}
			if json.Unmarshal(b, &bundle) == nil {
				rs.mu.Lock()
				for _, d := range bundle.Deployment {
					rs.staged[d.Cluster], rs.tested[d.Cluster] = d.Staged, d.HelmTest
					if d.Staged == "" {
						continue
					}
					if rs.seen[d.Cluster] == nil {
						rs.seen[d.Cluster] = map[string]time.Time{}
					}
					if _, ok := rs.seen[d.Cluster][d.Staged]; !ok {
						rs.seen[d.Cluster][d.Staged] = time.Now()
						rs.order = append(rs.order, d.Cluster+"@"+d.Staged)
					}
				}
				rs.mu.Unlock()
			}
		}
		for c, a := range rs.agents {
			_ = rs.checkin(ctx, c, a) // an AMP being restarted refuses: the next round reports
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkin reports cluster c's release of upf at its staged version; with
// Helm tests asked for, a version named "…-testfail" fails its test.
func (rs *rolloutSites) checkin(ctx context.Context, c string, a *fleetAgent) error {
	rs.mu.Lock()
	version, tested := rs.staged[c], rs.tested[c]
	a.server = rs.s.URL
	rs.mu.Unlock()
	now := time.Now()
	ck := wire.Checkin{AgentVersion: "v0.0.0-rollout-test", AgentTime: now,
		Facts: wire.Facts{KubernetesVersion: "v1.35.4", Nodes: []wire.Node{{Name: "server-1", Ready: true}}}}
	if version != "" {
		ready := !strings.HasSuffix(version, "-faulty")
		o := wire.ObjectStatus{Kind: wire.KindHelmRelease, Name: "upf", State: wire.StateApplied, Version: version, Ready: &ready, At: now}
		switch {
		case !ready:
			o.State, o.Message = wire.StateFailed, "deployment upf: 0/1 available: pod upf-7d9f crash-looping"
		case tested && strings.HasSuffix(version, "-testfail"):
			no := false
			o.State, o.Ready, o.Message = wire.StateFailed, &no, "helm test: pod upf-test-connection failed"
		}
		ck.Objects = []wire.ObjectStatus{o}
	}
	body, err := json.Marshal(ck)
	if err != nil {
		return err
	}
	code, ans, err := a.call(a.hc, ctx, "PUT", a.url("/status"), body, nil)
	if err == nil && code != 200 {
		err = fmt.Errorf("check-in of %s: %d %s", c, code, ans)
	}
	return err
}

func (rs *rolloutSites) firstStaged(c, version string) (time.Time, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	t, ok := rs.seen[c][version]
	return t, ok
}

func (rs *rolloutSites) stagedNow(c string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.staged[c]
}

func (rs *rolloutSites) setServer(s *testenv.Server) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.s = s
}

// rolloutStatus reads a rollout's status.
type rolloutStatusDoc struct {
	Workflow   string   `json:"workflow"`
	Version    string   `json:"version"`
	Phase      string   `json:"phase"`
	Partition  int      `json:"partition"`
	Partitions int      `json:"partitions"`
	WaitingOn  string   `json:"waiting-on"`
	Halted     string   `json:"halted-reason"`
	Unmatched  []string `json:"unmatched"`
	Skipped    []struct {
		Cluster, Reason string
	} `json:"skipped"`
	History []struct {
		Event     string `json:"event"`
		Partition int    `json:"partition"`
		Detail    string `json:"detail"`
	} `json:"history"`
}

func rolloutStatus(t testing.TB, s *testenv.Server, id string) rolloutStatusDoc {
	t.Helper()
	var r struct {
		Status rolloutStatusDoc `json:"status"`
	}
	code, b, _, err := s.Do(context.Background(), "GET", "/fleet/v1.0.0/rollout/"+id, "")
	if err != nil || code != 200 {
		t.Fatalf("GET rollout %s: %d %s %v\nserver log (no audit):\n%s", id, code, b, err, notAudit(s.Log(), 6000))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// waitRollout waits until the rollout's status satisfies ok.
func waitRollout(t *testing.T, s *testenv.Server, id, what string, ok func(st rolloutStatusDoc) bool) rolloutStatusDoc {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := rolloutStatus(t, s, id)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			_, runs, _, _ := s.Do(context.Background(), "GET", "/workflows", "")
			var list struct{ Workflows []struct{ ID string } }
			if json.Unmarshal(runs, &list) == nil && len(list.Workflows) > 0 {
				_, runs, _, _ = s.Do(context.Background(), "GET", "/workflows/"+list.Workflows[0].ID, "")
			}
			t.Fatalf("rollout %s: %s did not happen; status %+v\nworkflows: %s\nserver log (no audit):\n%s", id, what, st, runs, notAudit(s.Log(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// notAudit is the end of a server log without its audit records.
func notAudit(log string, n int) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, `"msg":"audit"`) {
			b.WriteString(l + "\n")
		}
	}
	if out := b.String(); len(out) > n {
		return out[len(out)-n:]
	}
	return b.String()
}

func events(st rolloutStatusDoc) []string {
	var out []string
	for _, h := range st.History {
		out = append(out, fmt.Sprintf("%s/%d", h.Event, h.Partition))
	}
	return out
}

// TestFleetRollout drives a staged rollout through the binary with
// simulated sites speaking the agent link: staging first, then bake and
// a manual approval (amp fleet approve), then production one partition at
// a time (zone=east, then zone=west); the offline cluster is waited for,
// then skipped and reported; the cluster no partition takes is reported;
// a faulty version halts at staging and rolls back by itself, with the
// reason; AMP killed -9 at a gate resumes the same run (no partition
// staged twice or skipped); amp workflow list/show/cancel; amp fleet
// rollback, status and diff.
func TestFleetRollout(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", rolloutInventory)
	sites := newRolloutSites(t, s, "staging-1", "prod-1", "prod-2", "prod-3", "prod-4", "prod-5")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go sites.run(ctx)

	// A stage whose max-unavailable is the whole group is refused.
	bad := strings.Replace(rolloutFleet, `"offline-wait":3`, `"offline-wait":3,"max-unavailable":6`, 1)
	code, body, _, err := s.Do(ctx, "POST", "/fleet/v1.0.0", bad)
	if err != nil || code != 409 || !strings.Contains(string(body), "max-unavailable") || !strings.Contains(string(body), "100%") {
		t.Fatalf("max-unavailable 6 of 6 clusters: %d %s, want 409 naming the path and the rule", code, body)
	}
	s.Must(t, 201, "POST", "/fleet/v1.0.0", rolloutFleet)

	// Staging first; production waits for the approval after the bake.
	st := waitRollout(t, s, "upf-r", "the gate after staging", func(st rolloutStatusDoc) bool {
		return st.Phase == "gated" && strings.Contains(st.WaitingOn, "approval")
	})
	if _, ok := sites.firstStaged("staging-1", "1.1.0"); !ok {
		t.Fatalf("staging-1 should run 1.1.0 before the gate")
	}
	for _, c := range []string{"prod-1", "prod-2", "prod-3", "prod-4", "prod-5"} {
		if v := sites.stagedNow(c); v != "" {
			t.Fatalf("%s staged %q before the approval", c, v)
		}
	}
	if !slices.Contains(st.Unmatched, "prod-5 (production)") {
		t.Errorf("prod-5 matches no partition and should be reported: unmatched %v", st.Unmatched)
	}

	// kill -9 at the gate: the same run resumes, staging is not redone.
	run := st.Workflow
	s.Kill()
	s = testenv.Start(t, dir, "--agent-checkin-interval", "1s")
	sites.setServer(s)
	st = waitRollout(t, s, "upf-r", "the gate again after the restart", func(st rolloutStatusDoc) bool {
		return st.Phase == "gated" && strings.Contains(st.WaitingOn, "approval")
	})
	if st.Workflow != run {
		t.Fatalf("after kill -9 the rollout runs %s, want the same run %s resumed", st.Workflow, run)
	}

	if code, out, errOut := amp(t, s, "fleet", "approve", "upf-r"); code != 0 || !strings.Contains(out, "partition 2 approved") {
		t.Fatalf("amp fleet approve: exit %d %s%s", code, out, errOut)
	}
	st = waitRollout(t, s, "upf-r", "the end", func(st rolloutStatusDoc) bool { return st.Phase == "done" })
	want := []string{"planned/0", "deployed/1", "baked/1", "approved/2", "deployed/2", "baked/2", "skipped/3", "deployed/3", "baked/3", "done/0"}
	if got := events(st); !slices.Equal(got, want) {
		t.Errorf("history %v, want %v (each partition once, in order)", got, want)
	}
	east, west := latest(t, sites, "1.1.0", "prod-1", "prod-2"), earliest(t, sites, "1.1.0", "prod-3", "prod-4")
	if first, _ := sites.firstStaged("staging-1", "1.1.0"); !first.Before(earliest(t, sites, "1.1.0", "prod-1", "prod-2")) || !east.Before(west) {
		t.Errorf("partitions out of order: staging, then zone=east, then zone=west")
	}
	p1, _ := sites.firstStaged("prod-1", "1.1.0")
	if p2, _ := sites.firstStaged("prod-2", "1.1.0"); !p1.Before(p2) {
		t.Errorf("max-unavailable 1: prod-2 was staged before prod-1 was ready (%s, %s)", p1, p2)
	}
	if len(st.Skipped) != 2 || !skippedHas(st, "prod-6", "offline") || !skippedHas(st, "prod-5", "unmatched") {
		t.Errorf("skipped %+v, want prod-6 (offline) and prod-5 (unmatched), with reasons", st.Skipped)
	}
	for _, c := range []string{"prod-5", "prod-6"} {
		if v := sites.stagedNow(c); v != "" {
			t.Errorf("%s staged %q although skipped", c, v)
		}
	}
	code, out, errOut := amp(t, s, "fleet", "status")
	if code != 0 || !regexpLine(out, `upf\s+1\.1\.0\s+5\s+ready 5`) {
		t.Errorf("amp fleet status: exit %d\n%s%s", code, out, errOut)
	}

	// A faulty version halts at staging and rolls back by itself.
	setVersion(t, s, "1.2.0-faulty")
	st = waitRollout(t, s, "upf-r", "the rollback of the faulty version", func(st rolloutStatusDoc) bool { return st.Phase == "rolled-back" })
	if !strings.Contains(st.Halted, "staging-1") || !strings.Contains(st.Halted, "crash-looping") {
		t.Errorf("halted-reason %q should name the cluster and the agent's reason", st.Halted)
	}
	if got := events(st); !slices.Contains(got, "halted/1") || !slices.Contains(got, "rolled-back/0") {
		t.Errorf("history %v should record the halt and the rollback", got)
	}
	waitStaged(t, sites, "staging-1", "1.1.0")
	for _, c := range []string{"prod-1", "prod-2", "prod-3", "prod-4"} {
		if _, ok := sites.firstStaged(c, "1.2.0-faulty"); ok {
			t.Errorf("%s got the faulty version: the halt at staging should have stopped it", c)
		}
	}
	if code, out, _ := amp(t, s, "workflow", "show", st.Workflow); code != 0 || !strings.Contains(out, "state: failed") || !strings.Contains(out, "crash-looping") {
		t.Errorf("amp workflow show %s: exit %d\n%s", st.Workflow, code, out)
	}

	// Cancel at the gate; then roll back by hand.
	setVersion(t, s, "1.3.0")
	st = waitRollout(t, s, "upf-r", "the gate of 1.3.0", func(st rolloutStatusDoc) bool {
		return st.Version == "1.3.0" && st.Phase == "gated"
	})
	code, out, errOut = amp(t, s, "workflow", "list", "--kind", "fleet-rollout")
	if code != 0 || !strings.Contains(out, st.Workflow) || strings.Count(out, "fleet-rollout") != 3 {
		t.Errorf("amp workflow list: exit %d, want the 3 runs\n%s%s", code, out, errOut)
	}
	cancelled := st.Workflow
	if code, out, errOut := amp(t, s, "workflow", "cancel", cancelled); code != 0 {
		t.Fatalf("amp workflow cancel: exit %d %s%s", code, out, errOut)
	}
	st = waitRollout(t, s, "upf-r", "the cancel", func(st rolloutStatusDoc) bool { return st.Phase == "cancelled" })
	if v := sites.stagedNow("prod-1"); v != "1.1.0" {
		t.Errorf("prod-1 staged %q after the cancel at the gate, want 1.1.0 still", v)
	}
	if code, out, errOut := amp(t, s, "workflow", "cancel", cancelled); code == 0 || !strings.Contains(out+errOut, "ended") {
		t.Errorf("cancelling an ended run: exit %d %s%s, want a refusal", code, out, errOut)
	}
	code, out, errOut = amp(t, s, "fleet", "diff")
	if code != 0 || !regexpLine(out, `upf\s+prod-5\s+-\s+-\s+pending`) {
		t.Errorf("amp fleet diff should list prod-5 (never deployed): exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := amp(t, s, "fleet", "rollback", "upf-r"); code != 0 {
		t.Fatalf("amp fleet rollback: exit %d %s%s", code, out, errOut)
	}
	waitStaged(t, sites, "staging-1", "1.1.0")
	st = waitRollout(t, s, "upf-r", "the rollback by hand", func(st rolloutStatusDoc) bool { return st.Phase == "rolled-back" })
	if !strings.Contains(st.Halted, "by hand") {
		t.Errorf("halted-reason %q should say it was rolled back by hand, and by whom", st.Halted)
	}
	audit := string(s.Must(t, 200, "GET", "/audit?limit=500", ""))
	for _, p := range []string{"/fleet/rollouts/upf-r/approve", "/fleet/rollouts/upf-r/rollback", "/workflows/" + cancelled} {
		if !strings.Contains(audit, p) {
			t.Errorf("the audit trail lacks %s", p)
		}
	}
	metrics := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, m := range []string{`amp_fleet_deployments{state="ready"}`, `amp_fleet_rollout_halts_total{cause="unavailable"} 1`, `amp_workflow_runs_ended_total{kind="fleet-rollout",state="cancelled"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// setVersion changes the rollout's version (a new run supersedes the old).
func setVersion(t *testing.T, s *testenv.Server, v string) {
	t.Helper()
	code, b, _, err := s.Do(context.Background(), "PATCH", "/fleet/v1.0.0/rollout/upf-r", `{"version":"`+v+`"}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("set the rollout's version to %s: %d %s %v", v, code, b, err)
	}
}

// regexpLine reports whether a line of out matches re.
func regexpLine(out, re string) bool { return regexp.MustCompile("(?m)" + re).MatchString(out) }

func skippedHas(st rolloutStatusDoc, cluster, reason string) bool {
	for _, s := range st.Skipped {
		if s.Cluster == cluster && strings.Contains(s.Reason, reason) {
			return true
		}
	}
	return false
}

func waitStaged(t *testing.T, sites *rolloutSites, c, version string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for sites.stagedNow(c) != version {
		if time.Now().After(deadline) {
			t.Fatalf("%s is staged %q, want %s", c, sites.stagedNow(c), version)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func earliest(t *testing.T, sites *rolloutSites, version string, cs ...string) time.Time {
	t.Helper()
	var e time.Time
	for _, c := range cs {
		at, ok := sites.firstStaged(c, version)
		if !ok {
			t.Fatalf("%s never staged %s", c, version)
		}
		if e.IsZero() || at.Before(e) {
			e = at
		}
	}
	return e
}

func latest(t *testing.T, sites *rolloutSites, version string, cs ...string) time.Time {
	t.Helper()
	var l time.Time
	for _, c := range cs {
		at, ok := sites.firstStaged(c, version)
		if !ok {
			t.Fatalf("%s never staged %s", c, version)
		}
		if at.After(l) {
			l = at
		}
	}
	return l
}
