package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestEtcdLeaderKilledUnderLoad: two AMP replicas on a three-member etcd
// cluster, 32 writers on each; the etcd leader is killed. Writes pause while
// the remaining two elect a leader and then resume; every acknowledged
// transaction is there, whole, on both replicas, which hold the same
// history in the same order — and still there after they restart.
func TestEtcdLeaderKilledUnderLoad(t *testing.T) {
	c := etcd.Start(t, 3)
	bin := testenv.Binary(t)
	storeURL := "etcd://" + c.Endpoints() + "/amp-leader/"
	reps := startReplicas(t, bin, storeURL, 2)
	reps[0].Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	reps[0].Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)

	load := startLoad(reps, 32)
	time.Sleep(700 * time.Millisecond)
	leader := etcdLeader(t, c)
	before := load.acked.len()
	leader.Kill()
	killed := time.Now()
	// Writes must resume: wait for 200 more acknowledgements.
	waitWithin(t, time.Minute, func() bool { return load.acked.len() >= before+200 }, "writes to resume after the etcd leader was killed")
	t.Logf("etcd leader %s killed with %d acknowledged; 200 more within %.1f s; %d requests failed meanwhile (first: %v)",
		leader.Name, before, time.Since(killed).Seconds(), load.failed.Load(), load.firstFailure.Load())
	load.stop()
	for _, err := range load.unexpected() {
		t.Error(err)
	}
	checkReplicas(t, reps, load, "after the leader's death")

	dirs := []string{reps[0].DataDir, reps[1].DataDir}
	for _, s := range reps {
		s.Stop()
	}
	for i, dir := range dirs {
		s, err := testenv.StartErr(bin, dir, "--store", storeURL, "--replica-name", fmt.Sprintf("r%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		reps[i] = s
	}
	checkReplicas(t, reps, load, "after both replicas restarted from etcd")
}

// TestEtcdMemberPartitionHeals: one etcd member is frozen (SIGSTOP: it
// answers nobody, its connections stay open, as behind a partition) while
// two replicas take writes, then thawed. Writes go on through the other
// members; afterwards nothing acknowledged is missing and the three members
// hold identical data (etcd's HashKV at one revision).
func TestEtcdMemberPartitionHeals(t *testing.T) {
	c := etcd.Start(t, 3)
	bin := testenv.Binary(t)
	reps := startReplicas(t, bin, "etcd://"+c.Endpoints()+"/amp-partition/", 2)
	reps[0].Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	reps[0].Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)

	load := startLoad(reps, 8)
	time.Sleep(500 * time.Millisecond)
	// A follower: cutting off the leader is TestEtcdLeaderKilledUnderLoad.
	var cut *etcd.Member
	leader := etcdLeader(t, c)
	for _, m := range c.Members {
		if m != leader {
			cut = m
			break
		}
	}
	cut.Pause()
	paused := load.acked.len()
	waitWithin(t, time.Minute, func() bool { return load.acked.len() >= paused+300 }, "writes to go on while a member is cut off")
	cut.Resume()
	healed := load.acked.len()
	waitWithin(t, time.Minute, func() bool { return load.acked.len() >= healed+300 }, "writes to go on after the member is back")
	load.stop()
	t.Logf("member %s cut off at %d acknowledged, back at %d; %d requests failed meanwhile (first: %v)",
		cut.Name, paused, healed, load.failed.Load(), load.firstFailure.Load())
	for _, err := range load.unexpected() {
		t.Error(err)
	}
	checkReplicas(t, reps, load, "after the partition healed")

	// No divergence: every member hashes to the same at one revision.
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(c.Endpoints(), ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/amp-partition/last")
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision
	var hashes []string
	waitFor(t, func() bool {
		hashes = hashes[:0]
		for _, m := range c.Members {
			h, err := cli.HashKV(ctx, m.ClientURL, rev)
			if err != nil {
				return false // the healed member is still catching up
			}
			hashes = append(hashes, fmt.Sprint(h.Hash))
		}
		return true
	}, "every member to answer HashKV")
	for i, h := range hashes {
		if h != hashes[0] {
			t.Fatalf("member %s diverged: HashKV at revision %d is %s, %s has %s", c.Members[i].Name, rev, h, c.Members[0].Name, hashes[0])
		}
	}
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

// TestEtcdStoreCreatesDataDir: with the store on etcd, a --data-dir that does
// not exist yet is created (it holds the CA, the first token, the backup key
// and the audit trail); the server used to stop at the backup key instead.
func TestEtcdStoreCreatesDataDir(t *testing.T) {
	c := etcd.Start(t, 1)
	dir := filepath.Join(t.TempDir(), "not", "yet")
	s := testenv.Start(t, dir, "--store", "etcd://"+c.Endpoints()+"/amp-fresh-dir/")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", st.Mode().Perm())
	}
}
