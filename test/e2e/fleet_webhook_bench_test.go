package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// benchSite is one site's agent speaking the real link (internal/agent/
// link: enrolment, the desired state's long-poll, check-ins) with an
// instant applier: every helm-release it is sent is reported applied and
// ready at once. It records when each bundle version first reached it.
type benchSite struct {
	client *link.Client
	mu     sync.Mutex
	got    map[string]time.Time // bundle version → when the desired state first named it
	now    string               // the version the desired state names now
}

func newBenchSite(b *testing.B, s *testenv.Server, cluster string) *benchSite {
	var tok struct{ Token string }
	if err := json.Unmarshal(s.Must(b, 201, "POST", "/clusters/"+cluster+"/tokens", `{"ttl":"1h"}`), &tok); err != nil {
		b.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cluster}}, key)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(s.CA)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		b.Fatalf("the server's CA %s: %v", s.CA, err)
	}
	creds, err := link.Register(context.Background(), s.URL, pool, wire.RegisterRequest{Token: tok.Token, Cluster: cluster,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}, link.DefaultBackoff, "bench")
	if err != nil {
		b.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(creds.Certificate))
	c, err := link.New(s.URL, cluster, tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key}, pool)
	if err != nil {
		b.Fatal(err)
	}
	return &benchSite{client: c, got: map[string]time.Time{}}
}

// run checks in, then long-polls the desired state and checks in after
// each change (and every 10 s), as the agent does, until ctx ends.
func (bs *benchSite) run(ctx context.Context) {
	var index uint64
	var digest, version string
	checkin := func() {
		_, _ = bs.client.Checkin(ctx, func() wire.Checkin {
			now := time.Now()
			ck := wire.Checkin{AgentVersion: "bench", AgentTime: now, Applied: wire.Applied{Index: index, Digest: digest},
				Facts: wire.Facts{Nodes: []wire.Node{{Name: "n1", Ready: true}}}}
			if version != "" {
				ready := true
				ck.Objects = []wire.ObjectStatus{{Kind: wire.KindHelmRelease, Name: "web", State: wire.StateApplied, Version: version, Ready: &ready, At: now}}
			}
			return ck
		})
	}
	checkin()
	due := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil {
		d, err := bs.client.Desired(ctx, index, digest, time.Until(due))
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		at := time.Now()
		if d != nil {
			index, digest = d.Index, d.Digest
			for _, o := range d.Objects {
				var hr wire.HelmRelease
				if o.Kind == wire.KindHelmRelease && json.Unmarshal(o.Spec, &hr) == nil && hr.Version != version {
					version = hr.Version
					bs.mu.Lock()
					bs.got[version], bs.now = at, version
					bs.mu.Unlock()
				}
			}
		}
		if d != nil || !time.Now().Before(due) {
			checkin()
			due = time.Now().Add(10 * time.Second)
		}
	}
}

// reached is when the site's desired state last came to name version
// (false: it does not name it now).
func (bs *benchSite) reached(version string) (time.Time, bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.got[version], bs.now == version
}

// logTime is the time of the server's first log line with msg whose
// attribute key is value (false: none yet).
func logTime(s *testenv.Server, msg, key, value string) (time.Time, bool) {
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		line := sc.Bytes()
		if json.Unmarshal(line, &rec) != nil || rec.Msg != msg {
			continue
		}
		var attrs map[string]any
		if json.Unmarshal(line, &attrs) == nil && attrs[key] == value {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}

// quantile is the q-quantile (nearest rank) of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// BenchmarkWebhookToSite is the issue's third figure, "webhook received →
// first site starts upgrading ≤ 2 s", through the binary: a config repo
// served by git http-backend on loopback, AMP (amp serve) with the repo in
// webhook mode (a webhook secret), a bundle of the repo's chart and a
// rollout of it to a cluster group of one site, whose agent speaks the
// real link with an instant applier. Each of AMP_BENCH_PUSHES (20) rounds
// pushes a new chart version (git push), POSTs the push event signed as
// GitHub signs it (X-Hub-Signature-256) and, when it answers with the
// fetched revision, sets the rollout's version to it (the CI's step: a
// rollout names its commit); it times from the webhook's request to the
// site's desired state naming the new version. Stages: the fetch (the
// webhook's answer), the chart's preparation (packed from the commit,
// loaded, its values checked against values.schema.json, rendered, kept:
// the server's "prepared a bundle's chart" log line), the rollout's
// commit (the PATCH), the run's plan and staging (its workflow events),
// and the fan-out to the site. The same-run baseline: the same version
// change made by a REST commit alone, the rollout set back to the
// previous commit, whose chart is prepared (no git, no chart). make
// bench-webhook.
func BenchmarkWebhookToSite(b *testing.B) {
	pushes := 20
	if v := os.Getenv("AMP_BENCH_PUSHES"); v != "" {
		fmt.Sscan(v, &pushes)
	}
	git := gitserver.Start(b)
	url := git.Create(b, "apps")
	first := git.Push(b, "apps", "main", webChart("0.1.0", "1"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(b, b.TempDir(), "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "30s")
	const secret = "bench-hook-secret"
	s.Must(b, 200, "PUT", "/fleet/secrets/apps-hook", `{"secret":"`+secret+`"}`)
	s.Must(b, 201, "POST", "/inventory/v1.0.0", `{"cluster": [{"cluster-id": "edge-1", "label": [{"name": "env", "value": "staging"}]}]}`)
	site := newBenchSite(b, s, "edge-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go site.run(ctx)
	s.Must(b, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{
	  "git-repo": [{"repo-id": "apps", "url": %q, "webhook-secret": "apps-hook"}],
	  "bundle": [{"bundle-id": "web", "git": {"repo": "apps", "path": "charts/web"}, "namespace": "apps"}],
	  "cluster-group": [{"group-id": "staging", "match-label": [{"name": "env", "value": "staging"}]}],
	  "rollout": [{"rollout-id": "web-r", "bundle": "web", "version": %q, "stage": [{"group": "staging", "order": 1, "bake-time": 0}]}]}`, url, first))
	wait := func(what string, d time.Duration, ok func() bool) {
		b.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				b.Fatalf("%s: not within %s\n%s", what, d, tail(s.Log(), 40))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	done := func(version string) func() bool {
		return func() bool {
			st := rolloutStatus(b, s, "web-r")
			return st.Version == version && st.Phase == "done"
		}
	}
	wait("the first version at the site", 2*time.Minute, func() bool { _, ok := site.reached(first); return ok })
	wait("the first rollout done", time.Minute, done(first))

	type round struct{ total, fetch, prepared, patch, staged, fanout, baseline time.Duration }
	var rounds []round
	prev := first
	b.ResetTimer()
	for i := range pushes {
		b.StopTimer()
		rev := git.Push(b, "apps", "main", webChart(fmt.Sprintf("0.%d.0", i+2), fmt.Sprint(i+2)))
		body := fmt.Sprintf(`{"ref":"refs/heads/main","before":%q,"after":%q}`, prev, rev)
		b.StartTimer()
		t0 := time.Now()
		code, ans, _, err := s.Do(ctx, "POST", "/fleet/hooks/apps", body,
			"X-Hub-Signature-256", "sha256="+gitsource.Sign([]byte(body), secret), "X-GitHub-Event", "push")
		var hook struct {
			Fetched  bool   `json:"fetched"`
			Revision string `json:"revision"`
		}
		if err != nil || code != 200 || json.Unmarshal(ans, &hook) != nil || !hook.Fetched || hook.Revision != rev {
			b.Fatalf("webhook %d: %d %s %v", i, code, ans, err)
		}
		tFetch := time.Now()
		setRolloutVersion(b, s, rev)
		tPatch := time.Now()
		wait("the new version at the site", time.Minute, func() bool { _, ok := site.reached(rev); return ok })
		b.StopTimer()
		tSite, _ := site.reached(rev)
		wait("the rollout done", time.Minute, done(rev))
		r := round{total: tSite.Sub(t0), fetch: tFetch.Sub(t0), patch: tPatch.Sub(tFetch)}
		if at, ok := logTime(s, "prepared a bundle's chart", "version", rev); ok {
			r.prepared = at.Sub(tFetch)
		}
		if at, ok := stagedAt(b, s, rolloutStatus(b, s, "web-r").Workflow); ok {
			r.staged, r.fanout = at.Sub(tPatch), tSite.Sub(at)
		}

		// The baseline: the same change by a REST commit alone, to a
		// version whose chart is prepared.
		t1 := time.Now()
		setRolloutVersion(b, s, prev)
		wait("the previous version back at the site", time.Minute, func() bool { _, ok := site.reached(prev); return ok })
		tBack, _ := site.reached(prev)
		r.baseline = tBack.Sub(t1)
		wait("the rollout back done", time.Minute, done(prev))
		rounds = append(rounds, r)
		// One line per push on stdout: a benchmark's log keeps 10 lines.
		fmt.Printf("push %2d: webhook → site %v (fetch %v, chart prepared %v after the fetch, rollout PATCH %v, staged %v after it, fan-out %v); baseline (REST commit → site) %v\n",
			i+1, r.total.Round(time.Millisecond), r.fetch.Round(time.Millisecond), r.prepared.Round(time.Millisecond),
			r.patch.Round(time.Millisecond), r.staged.Round(time.Millisecond), r.fanout.Round(time.Millisecond), r.baseline.Round(time.Millisecond))
		prev = rev
		b.StartTimer()
	}
	b.StopTimer()
	col := func(f func(r round) time.Duration) []time.Duration {
		out := make([]time.Duration, len(rounds))
		for i, r := range rounds {
			out[i] = f(r)
		}
		return out
	}
	total, base := col(func(r round) time.Duration { return r.total }), col(func(r round) time.Duration { return r.baseline })
	b.ReportMetric(quantile(total, 0.5).Seconds(), "p50-s")
	b.ReportMetric(quantile(total, 0.99).Seconds(), "p99-s")
	b.ReportMetric(quantile(base, 0.5).Seconds(), "baseline-p50-s")
	b.ReportMetric(quantile(base, 0.99).Seconds(), "baseline-p99-s")
	var stages []string
	for _, st := range []struct {
		name string
		f    func(r round) time.Duration
	}{
		{"fetch", func(r round) time.Duration { return r.fetch }},
		{"prepare", func(r round) time.Duration { return r.prepared }},
		{"patch", func(r round) time.Duration { return r.patch }},
		{"staged", func(r round) time.Duration { return r.staged }},
		{"fanout", func(r round) time.Duration { return r.fanout }},
	} {
		c := col(st.f)
		b.ReportMetric(quantile(c, 0.5).Seconds(), st.name+"-p50-s")
		stages = append(stages, fmt.Sprintf("%s %v/%v", st.name, quantile(c, 0.5).Round(time.Millisecond), quantile(c, 0.99).Round(time.Millisecond)))
	}
	b.Logf("%d pushes: webhook received → site p50 %v p99 %v; baseline (the same version change by a REST commit) p50 %v p99 %v",
		len(rounds), quantile(total, 0.5).Round(time.Millisecond), quantile(total, 0.99).Round(time.Millisecond),
		quantile(base, 0.5).Round(time.Millisecond), quantile(base, 0.99).Round(time.Millisecond))
	b.Logf("stages p50/p99: %s (fetch: the webhook's answer; prepare: the chart packed, its values checked, rendered and kept, after the fetch; patch: the rollout's commit; staged: the run's plan began, after the commit; fanout: from then to the site)",
		strings.Join(stages, ", "))
}

// stagedAt is when the rollout run staged its first partition: the end
// of its plan step (the deploy step that follows stages at once).
func stagedAt(b *testing.B, s *testenv.Server, run string) (time.Time, bool) {
	var r struct {
		History []struct {
			At      time.Time `json:"at"`
			Step    string    `json:"step"`
			Outcome string    `json:"outcome"`
		} `json:"history"`
	}
	code, body, _, err := s.Do(context.Background(), "GET", "/workflows/"+run, "")
	if err != nil || code != 200 || json.Unmarshal(body, &r) != nil {
		b.Logf("GET /workflows/%s: %d %s %v", run, code, body, err)
		return time.Time{}, false
	}
	for _, h := range r.History {
		if h.Step == "plan" && h.Outcome == "done" {
			return h.At, true
		}
	}
	return time.Time{}, false
}

// setRolloutVersion PATCHes rollout web-r's version.
func setRolloutVersion(b *testing.B, s *testenv.Server, v string) {
	code, body, _, err := s.Do(context.Background(), "PATCH", "/fleet/v1.0.0/rollout/web-r", `{"version":"`+v+`"}`)
	if err != nil || code/100 != 2 {
		b.Fatalf("PATCH the rollout's version: %d %s %v", code, body, err)
	}
}

// tail is the last n lines of a log.
func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
