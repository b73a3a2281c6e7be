package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// While the writer is stuck (here: another bbolt writer holds the file),
// the queue stays bounded, the overflow is counted, and queries answer at
// once with the queued records.
func TestQueueBoundedAndQueriesNeverWaitForTheWriter(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := Open(t.TempDir(), Options{Logger: quiet(), Registerer: reg, QueueMax: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	release, holding := make(chan struct{}), make(chan struct{})
	go func() {
		_ = l.db.Update(func(*bolt.Tx) error { close(holding); <-release; return nil })
	}()
	<-holding
	for i := range 8 {
		l.Enqueue(context.Background(), rec(fmt.Sprintf("p%d", i), Allowed, "/aether/v2.1.x/acme"))
	}
	got, err := l.Query(Filter{})
	if err != nil || len(got) != 5 || got[0].Principal != "p4" || got[4].Principal != "p0" {
		t.Fatalf("query while the writer waits: %v %+v", err, got)
	}
	if n := counter(t, reg, "amp_audit_dropped_total"); n != 3 {
		t.Fatalf("amp_audit_dropped_total %v, want 3", n)
	}
	close(release)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Len(); n != 5 {
		t.Fatalf("%d records on disk, want 5", n)
	}
}

func TestAuthFailuresCountedPerSourceAndLimited(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	l, err := Open(t.TempDir(), Options{Logger: quiet(), Now: c.now, AuthFailLimit: 3, AuthFailWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a := l.AuthFailures()
	ctx := context.Background()
	path := "/aether/v2.1.x/acme/site/s1/" + strings.Repeat("x", 5000)
	var waits []time.Duration
	for _, src := range []string{"[2001:db8::1]:40000", "[2001:db8::2]:40001", "[2001:db8::3]:1", "[2001:db8::4]:2", "[2001:db8:1::1]:3"} {
		waits = append(waits, a.Fail(ctx, REST, src, "GET", path, "bad token"))
	}
	// One /64: the first three pass, the fourth waits; another /64 is apart.
	if waits[0] != 0 || waits[1] != 0 || waits[2] != 0 || waits[3] != time.Hour || waits[4] != 0 {
		t.Fatalf("waits %v", waits)
	}
	c.add(time.Hour)
	if w := a.Fail(ctx, REST, "[2001:db8::9]:5", "GET", "/x", "bad token"); w != 0 {
		t.Fatalf("a new window still waits %v", w)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Query(Filter{Outcome: Denied})
	if err != nil {
		t.Fatal(err)
	}
	// First of 2001:db8::/64, first of 2001:db8:1::/64, the count of the
	// first window (3 more), the first of the second window.
	var summary *Record
	for i := range recs {
		if len(recs[i].Enterprises) != 0 || len(recs[i].Paths) != 0 {
			t.Fatalf("an unauthenticated record names a tenant: %+v", recs[i])
		}
		if fmt.Sprint(recs[i].Details["failures"]) == "3" {
			summary = &recs[i]
		}
	}
	if len(recs) != 4 || summary == nil || summary.Source != "2001:db8::/64" {
		t.Fatalf("records %+v", recs)
	}
	samples, _ := summary.Details["sample-paths"].([]any)
	if len(samples) != 3 || len(fmt.Sprint(samples[0])) > maxPathLen || summary.Details["first"] != "2026-12-01T10:00:00Z" {
		t.Fatalf("summary details %+v", summary.Details)
	}
}

func TestRetentionBySizeAndAge(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	l, err := Open(t.TempDir(), Options{Logger: quiet(), Now: c.now, RetainBytes: 20000, RetainAge: 24 * time.Hour, Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 200 {
		l.Enqueue(context.Background(), Record{Principal: fmt.Sprint(i), Interface: REST, Action: "write", Outcome: Allowed,
			Transaction: uint64(i + 1), Paths: []string{"/aether/v2.1.x/acme/" + strings.Repeat("y", 300)}})
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.prune()
	var size uint64
	_ = l.db.View(func(tx *bolt.Tx) error { size = getUint(tx.Bucket(metaBucket), keyBytes); return nil })
	if size > 20000 {
		t.Fatalf("%d bytes kept, limit 20000", size)
	}
	got, _ := l.Query(Filter{Enterprise: "acme"})
	if len(got) == 0 || len(got) >= 200 || got[0].Principal != "199" {
		t.Fatalf("kept %d records, newest %+v", len(got), got[0])
	}
	oldest := got[len(got)-1].Transaction
	if ok, _ := l.Audited(oldest - 1); ok {
		t.Fatal("a pruned record is still indexed")
	}
	if through, _ := l.RecoveredThrough(); through != oldest-1 {
		t.Fatalf("recovered-through %d after pruning up to transaction %d", through, oldest-1)
	}
	// A day later everything is too old.
	c.add(25 * time.Hour)
	l.prune()
	if n, _ := l.Len(); n != 0 {
		t.Fatalf("%d records older than the retained age", n)
	}
}

func TestPagesAndScanBudget(t *testing.T) {
	l, err := Open(t.TempDir(), Options{Logger: quiet(), Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 50 {
		ent := "acme"
		if i%2 == 1 {
			ent = "starbucks"
		}
		l.Enqueue(context.Background(), rec(fmt.Sprint(i), Allowed, "/aether/v2.1.x/"+ent+"/site/s"))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	var seen []uint64
	f := Filter{Enterprise: "acme", Limit: 10}
	for {
		p, err := l.QueryPage(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen = append(seen, r.Seq)
		}
		if p.Next == 0 {
			break
		}
		f.Before = p.Next
	}
	if len(seen) != 25 || seen[0] != 49 || seen[24] != 1 {
		t.Fatalf("pages of acme: %v", seen)
	}
	if ok, _ := l.Audited(12345); ok {
		t.Fatal("Audited without a record")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
