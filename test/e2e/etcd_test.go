package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestEtcdReplicaTakeover: two replicas on one etcd prefix. The second
// waits (one replica serves a prefix at a time) and takes over when the
// first is killed, serving everything the first acknowledged.
func TestEtcdReplicaTakeover(t *testing.T) {
	c := etcd.Start(t, 1)
	bin := testenv.Binary(t)
	storeURL := "etcd://" + c.Endpoints() + "/amp-takeover/"
	a, err := testenv.StartErr(bin, t.TempDir(), "--store", storeURL, "--demo")
	if err != nil {
		t.Fatal(err)
	}
	a.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/acme-chicago/device/written-by-a", `{"device-id":"written-by-a","imei":"490154203237518"}`)

	// B shares the store, so A's admin token (kept in etcd) is B's too.
	dirB := t.TempDir()
	tok, err := os.ReadFile(filepath.Join(a.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "admin.token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	type started struct {
		s   *testenv.Server
		err error
		at  time.Time
	}
	bc := make(chan started, 1)
	go func() {
		s, err := testenv.StartErr(bin, dirB, "--store", storeURL)
		bc <- started{s, err, time.Now()}
	}()
	select {
	case b := <-bc:
		if b.s != nil {
			b.s.Kill()
		}
		t.Fatalf("the second replica served while the first holds the prefix (err %v)", b.err)
	case <-time.After(3 * time.Second):
	}
	killed := time.Now()
	a.Kill()
	var b started
	select {
	case b = <-bc:
	case <-time.After(30 * time.Second):
		t.Fatal("the second replica did not take over within 30 s of the first one's death")
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	defer b.s.Stop()
	t.Logf("took over %.1f s after the kill", b.at.Sub(killed).Seconds())
	if !strings.Contains(b.s.Log(), "waiting to take over") {
		t.Errorf("the waiting replica did not say why it waited; its log:\n%s", b.s.Log())
	}
	body := string(b.s.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/device/written-by-a", ""))
	if !strings.Contains(body, "490154203237518") {
		t.Fatalf("the write acknowledged by the first replica is missing: %s", body)
	}
	b.s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/device/written-by-a", `{"description":"by b"}`)

	metrics := string(b.s.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{
		"amp_etcd_replica_lock_held 1",
		`amp_etcd_request_duration_seconds_count{method="Txn",outcome="ok"}`,
		`amp_etcd_request_duration_seconds_count{method="Range",outcome="ok"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestEtcdLeaderKilledUnderLoad: AMP on a three-member etcd cluster, 32
// writers; the etcd leader is killed. Writes pause while the remaining two
// elect a leader and then resume; every acknowledged transaction is there,
// whole, once — and still there after AMP restarts from etcd.
func TestEtcdLeaderKilledUnderLoad(t *testing.T) {
	c := etcd.Start(t, 3)
	bin := testenv.Binary(t)
	dir := t.TempDir()
	args := []string{"--store", "etcd://" + c.Endpoints() + "/amp-leader/"}
	s, err := testenv.StartErr(bin, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)

	var counter atomic.Int64
	acked := &ackLog{ids: map[string]bool{}}
	var failed atomic.Int64
	var firstFailure atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id, body := simDeviceTxn(counter.Add(1))
				code, resp, _, err := s.Do(ctx, "PATCH", "/aether-roc-api", body)
				switch {
				case err == nil && code == 200:
					acked.add(id)
				case ctx.Err() == nil:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v %s", code, err, resp))
					if err == nil && code != 503 {
						// Clients retry a 503; anything else would be a bug.
						t.Errorf("a write during the election got %d, want 503: %s", code, resp)
					}
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	leader := etcdLeader(t, c)
	before := acked.len()
	leader.Kill()
	killed := time.Now()
	// Writes must resume: wait for 200 more acknowledgements.
	waitFor(t, func() bool { return acked.len() >= before+200 }, "writes to resume after the etcd leader was killed")
	t.Logf("etcd leader %s killed with %d acknowledged; 200 more within %.1f s; %d requests failed meanwhile (first: %v)",
		leader.Name, before, time.Since(killed).Seconds(), failed.Load(), firstFailure.Load())
	cancel()
	wg.Wait()

	checkAcked(t, s, acked, "after the leader's death")
	s.Stop()
	s, err = testenv.StartErr(bin, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	checkAcked(t, s, acked, "after AMP restarted from etcd")
}

// etcdLeader asks the members which of them leads.
func etcdLeader(t *testing.T, c *etcd.Cluster) *etcd.Member {
	t.Helper()
	for _, m := range c.Members {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId == st.Leader {
			return m
		}
	}
	t.Fatal("no etcd member says it leads")
	return nil
}
