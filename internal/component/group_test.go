package component

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newGroup(t *testing.T) (*Group, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return NewGroup(slog.New(slog.DiscardHandler), reg), reg
}

// untilStopped is a component that runs until its context ends and
// records that it was stopped.
func untilStopped(name string, stopped chan<- string) Component {
	return Component{Name: name, Run: func(ctx context.Context) error {
		<-ctx.Done()
		stopped <- name
		return nil
	}}
}

// TestFirstFailureStopsTheRest: a failing component stops every other one
// and Run returns its error, prefixed with its name.
func TestFirstFailureStopsTheRest(t *testing.T) {
	g, _ := newGroup(t)
	stopped := make(chan string, 2)
	g.Add(untilStopped("controllers", stopped))
	cause := errors.New("accept: listener closed")
	g.Add(Component{Name: "gnmi", Run: func(context.Context) error { return cause }})
	stopCalled := make(chan struct{})
	served := make(chan struct{})
	g.Add(Component{Name: "rest", Run: func(context.Context) error { <-served; return nil },
		Stop: func() { close(stopCalled); close(served) }})
	err := g.Run(context.Background())
	if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "gnmi: ") {
		t.Fatalf("Run = %v, want the gnmi failure named", err)
	}
	if got := <-stopped; got != "controllers" {
		t.Errorf("stopped %q", got)
	}
	select {
	case <-stopCalled:
	default:
		t.Error("rest's Stop was not called")
	}
}

// TestReturningEarlyIsAFailure: a component that returns nil before it is
// asked to stop has died: the group stops and says so.
func TestReturningEarlyIsAFailure(t *testing.T) {
	g, _ := newGroup(t)
	g.Add(Component{Name: "maintenance", Run: func(context.Context) error { return nil }})
	g.Add(untilStopped("rest", make(chan string, 1)))
	if err := g.Run(context.Background()); err == nil || err.Error() != "maintenance: stopped unexpectedly" {
		t.Fatalf("Run = %v", err)
	}
}

// TestStopOnContextIsClean: ending the context stops every component and
// Run returns nil, even when the components return errors on the way out.
func TestStopOnContextIsClean(t *testing.T) {
	g, _ := newGroup(t)
	stopped := make(chan string, 2)
	g.Add(untilStopped("a", stopped))
	g.Add(Component{Name: "b", Run: func(ctx context.Context) error { <-ctx.Done(); stopped <- "b"; return ctx.Err() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after the context ended = %v, want nil", err)
	}
	if len(stopped) != 2 {
		t.Errorf("%d of 2 components stopped", len(stopped))
	}
}

// TestKeepServingMarksNotReady: a KeepServing component's failure leaves
// the others running and makes Ready name it and its cause; Report clears
// it again.
func TestKeepServingMarksNotReady(t *testing.T) {
	g, reg := newGroup(t)
	stopped := make(chan string, 1)
	g.Add(untilStopped("rest", stopped))
	failed := make(chan struct{})
	g.Add(Component{Name: "store", KeepServing: true, Run: func(context.Context) error {
		defer close(failed)
		return errors.New("etcd is gone")
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-failed
	for g.Ready() == nil { // Report follows the return
		time.Sleep(time.Millisecond)
	}
	if err := g.Ready(); err.Error() != "store: etcd is gone" {
		t.Errorf("Ready = %v", err)
	}
	if v := testutil.ToFloat64(g.ready.WithLabelValues("store")); v != 0 {
		t.Errorf("amp_component_ready{component=store} = %v, want 0", v)
	}
	if n, err := testutil.GatherAndCount(reg, "amp_component_ready"); err != nil || n != 2 {
		t.Errorf("amp_component_ready series: %d, %v", n, err)
	}
	select {
	case <-stopped:
		t.Fatal("a KeepServing failure stopped another component")
	case err := <-done:
		t.Fatalf("a KeepServing failure ended Run: %v", err)
	default:
	}
	g.Report("store", nil)
	if err := g.Ready(); err != nil {
		t.Errorf("Ready after the store came back = %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
