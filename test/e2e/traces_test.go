package e2e

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/jaeger"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// TestTraceFromRESTToSite follows one change through a real Jaeger: amp
// serve and amp agent export over OTLP (--otlp-endpoint); a node label
// committed through REST reaches the site, and the trace the PUT answered
// with (its Traceparent header) holds amp serve's request and commit
// spans and amp agent's pull and apply of that change, the agent's spans
// children in the same trace.
func TestTraceFromRESTToSite(t *testing.T) {
	j := jaeger.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s",
		"--otlp-endpoint", j.OTLP, "--trace-sample-ratio", "1")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", edgeClusters)
	a := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	a.kube.AddNode(t, "a-1", nil, nil, true)
	a.kube.AddNode(t, "a-2", nil, nil, false)
	a.enrol(t, s)
	a.agent = startAgent(t, "--dir", a.dir, "--kubeconfig", a.kube.Kubeconfig, "--otlp-endpoint", j.OTLP)
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, a.client(), "a-1", "env") == "prod" }, "the site holds its declaration")

	code, body, hdr, err := s.Do(context.Background(), "PUT", "/inventory/v1.0.0/cluster/edge-a/node/a-1",
		`{"name":"a-1","host":"10.9.0.1","role":["controlplane","worker"],"node-label":["env=staging","rack=r1"]}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("PUT a-1: %d %s %v", code, body, err)
	}
	tp := strings.Split(hdr.Get("Traceparent"), "-")
	if len(tp) != 4 || tp[3] != "01" {
		t.Fatalf("the PUT's Traceparent %q: want a sampled W3C trace context", hdr.Get("Traceparent"))
	}
	traceID := tp[1]
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, a.client(), "a-1", "env") == "staging" }, "the changed label applied at the site")

	// has finds the span of service whose operation is op, or starts
	// with it when op ends in a space (the REST span: "http " + route).
	has := func(spans []jaeger.Span, service, op string) *jaeger.Span {
		for i, sp := range spans {
			if sp.Service == service && (sp.Operation == op || strings.HasSuffix(op, " ") && strings.HasPrefix(sp.Operation, op)) {
				return &spans[i]
			}
		}
		return nil
	}
	var spans []jaeger.Span
	waitWithin(t, time.Minute, func() bool {
		spans, err = j.Trace(traceID)
		if err != nil {
			t.Fatal(err)
		}
		return has(spans, "amp-serve", "http ") != nil &&
			has(spans, "amp-serve", "config.Submit") != nil && has(spans, "amp-serve", "store.commit") != nil &&
			has(spans, "amp-agent", "agent.pull") != nil && has(spans, "amp-agent", "agent.apply") != nil
	}, "the trace in Jaeger with amp serve's request and commit and amp agent's pull and apply")

	byID := map[string]jaeger.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	pull, apply := has(spans, "amp-agent", "agent.pull"), has(spans, "amp-agent", "agent.apply")
	if apply.Parent != pull.SpanID {
		t.Fatalf("agent.apply's parent is %q, want agent.pull %s", apply.Parent, pull.SpanID)
	}
	if parent, ok := byID[pull.Parent]; !ok || parent.Service != "amp-serve" {
		t.Fatalf("agent.pull's parent %q is not a span of amp serve in the trace: %+v", pull.Parent, spans)
	}
}
