package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/edge/relay"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

const prefix = "/amp-relay-test/"

// site is a replica's side of the agent links: it holds the clusters in
// holds, and answers a query with its own name and the query's form.
type site struct {
	name  string
	holds map[string]bool
	body  func(q wire.SiteQuery) string
	runs  atomic.Int32
}

func (s *site) Take(cluster string) bool { return s.holds[cluster] }
func (s *site) Run(_ context.Context, _ string, q wire.SiteQuery) (wire.SiteAnswer, error) {
	s.runs.Add(1)
	b := fmt.Sprintf(`{"by":%q,"form":%q}`, s.name, q.Form)
	if s.body != nil {
		b = s.body(q)
	}
	return wire.SiteAnswer{Status: 200, Body: json.RawMessage(b)}, nil
}

func client(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func start(t *testing.T, cli *clientv3.Client, ttl int64, s *site) *relay.Relay {
	t.Helper()
	r, err := relay.New(cli, prefix, ttl, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// keys counts the relay's keys left in etcd.
func keys(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix+"site", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// TestRelayExactlyOneTaker: two replicas both claim the agent's link (as
// while it moves between them) and race for every query another replica
// relays: each query is run exactly once, its asker gets that run's
// answer, and no key is left behind.
func TestRelayExactlyOneTaker(t *testing.T) {
	ep := etcd.Start(t, 1).Members[0].ClientURL
	cli := client(t, ep)
	asker := start(t, cli, 5, &site{name: "a"})
	b := &site{name: "b", holds: map[string]bool{"ace-x": true}}
	c := &site{name: "c", holds: map[string]bool{"ace-x": true}}
	start(t, client(t, ep), 5, b)
	start(t, client(t, ep), 5, c)
	time.Sleep(200 * time.Millisecond) // the watches are set up

	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			q := wire.SiteQuery{ID: fmt.Sprintf("q%d", i), API: wire.APIQuery, Form: fmt.Sprintf("query=up%d", i)}
			a, err := asker.Ask(ctx, "ace-x", q)
			if err != nil {
				errs <- fmt.Errorf("%s: %w", q.ID, err)
				return
			}
			if a.Status != 200 || !strings.Contains(string(a.Body), fmt.Sprintf(`"form":"query=up%d"`, i)) {
				errs <- fmt.Errorf("%s answered %d %s", q.ID, a.Status, a.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := b.runs.Load() + c.runs.Load(); got != n {
		t.Errorf("%d runs for %d queries (b %d, c %d): want each run once", got, n, b.runs.Load(), c.runs.Load())
	}
	if k := keys(t, cli); k != 0 {
		t.Errorf("%d relay keys left in etcd after every query was answered", k)
	}
}

// TestRelayTooLarge: an answer over 1 MiB is not written to etcd (whose
// requests stop at 1.5 MiB); the asker gets a failure saying why.
func TestRelayTooLarge(t *testing.T) {
	ep := etcd.Start(t, 1).Members[0].ClientURL
	asker := start(t, client(t, ep), 5, &site{name: "a"})
	start(t, client(t, ep), 5, &site{name: "b", holds: map[string]bool{"ace-x": true},
		body: func(wire.SiteQuery) string { return `"` + strings.Repeat("x", relay.MaxAnswer) + `"` }})
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := asker.Ask(ctx, "ace-x", wire.SiteQuery{ID: "big", API: wire.APIQuery, Form: "query=up"})
	if err != nil || a.Status != 0 || a.Error != relay.TooLarge {
		t.Fatalf("a 1 MiB answer relayed: status %d error %q, %v (want status 0 and %q)", a.Status, a.Error, err, relay.TooLarge)
	}
}

// TestRelayLeaseExpiry: a query no replica takes stays until its asker
// gives up (ctx's error, the key deleted); the queries of an asker that
// dies (its client cut, its lease no longer renewed) vanish within the
// lease's TTL.
func TestRelayLeaseExpiry(t *testing.T) {
	ep := etcd.Start(t, 1).Members[0].ClientURL
	watcher := client(t, ep)
	asker := start(t, client(t, ep), 5, &site{name: "a"})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := asker.Ask(ctx, "nobody", wire.SiteQuery{ID: "q1", API: wire.APIQuery, Form: "query=up"}); err != context.DeadlineExceeded {
		t.Fatalf("a query nobody takes: %v (want the deadline)", err)
	}
	if k := keys(t, watcher); k != 0 {
		t.Fatalf("%d relay keys left after the asker gave up", k)
	}

	// A dying asker: its client is closed under it, nothing is deleted.
	dying, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(dying, prefix, 2, &site{name: "d"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	go func() {
		_, _ = r.Ask(context.Background(), "nobody", wire.SiteQuery{ID: "q2", API: wire.APIQuery, Form: "query=up"})
	}()
	for deadline := time.Now().Add(5 * time.Second); keys(t, watcher) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dying asker's query never appeared")
		}
	}
	// The query lives on the asker's lease, of its TTL: nothing else
	// keeps it once the asker stops renewing.
	got, err := watcher.Get(context.Background(), prefix+"sitequeries/", clientv3.WithPrefix())
	if err != nil || len(got.Kvs) != 1 || got.Kvs[0].Lease == 0 {
		t.Fatalf("the relayed query: %v %v (want one key on a lease)", got, err)
	}
	ttl, err := watcher.TimeToLive(context.Background(), clientv3.LeaseID(got.Kvs[0].Lease))
	if err != nil || ttl.GrantedTTL != 2 {
		t.Fatalf("the relayed query's lease: %+v %v (want TTL 2 s)", ttl, err)
	}
	_ = dying.Close()
	began := time.Now()
	for keys(t, watcher) != 0 {
		if time.Since(began) > 10*time.Second {
			t.Fatal("the dead asker's query outlived its lease by far")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the dead asker's query vanished %s after it died (lease TTL 2 s)", time.Since(began).Round(100*time.Millisecond))
}
