package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// startReplicas starts n AMP replicas (r1, r2, …) on one etcd store. The
// first creates the admin token in the store; the others share it, as
// replicas behind one load balancer do.
func startReplicas(t *testing.T, bin, storeURL string, n int, extra ...string) []*testenv.Server {
	t.Helper()
	var reps []*testenv.Server
	for i := range n {
		dir := t.TempDir()
		if i > 0 {
			tok, err := os.ReadFile(filepath.Join(reps[0].DataDir, "admin.token"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "admin.token"), tok, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args := append([]string{"--store", storeURL, "--replica-name", fmt.Sprintf("r%d", i+1)}, extra...)
		s, err := testenv.StartErr(bin, dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		reps = append(reps, s)
	}
	return reps
}

// load is writers of simDeviceTxn transactions spread over replicas.
type load struct {
	acked        *ackLog
	maxIndex     atomic.Uint64 // newest index a write was acknowledged at
	failed       atomic.Int64
	firstFailure atomic.Value
	failedOn     []atomic.Int64 // by replica
	cancel       context.CancelFunc
	wg           sync.WaitGroup

	mu  sync.Mutex
	bad []string // answers other than 200 and 503
}

var loadCounter atomic.Int64

// startLoad runs perReplica writers against each replica until stop.
func startLoad(reps []*testenv.Server, perReplica int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{acked: &ackLog{ids: map[string]bool{}}, failedOn: make([]atomic.Int64, len(reps)), cancel: cancel}
	loadCounter.CompareAndSwap(0, 1000) // clear of the fixtures' SIMs
	for i, s := range reps {
		for range perReplica {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for ctx.Err() == nil {
					id, body := simDeviceTxn(loadCounter.Add(1))
					code, resp, hdr, err := s.Do(ctx, "PATCH", "/aether-roc-api", body)
					switch {
					case err == nil && code == 200:
						l.acked.add(id)
						if idx, perr := strconv.ParseUint(hdr.Get("X-AMP-Transaction-Index"), 10, 64); perr == nil {
							for cur := l.maxIndex.Load(); idx > cur && !l.maxIndex.CompareAndSwap(cur, idx); cur = l.maxIndex.Load() {
							}
						}
					case ctx.Err() == nil:
						l.failed.Add(1)
						l.failedOn[i].Add(1)
						l.firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v %s", code, err, resp))
						if err == nil && code != 503 {
							// Clients retry a 503; anything else is a bug.
							l.mu.Lock()
							l.bad = append(l.bad, fmt.Sprintf("replica %d answered %d: %s", i+1, code, resp))
							l.mu.Unlock()
						}
						if err != nil {
							time.Sleep(50 * time.Millisecond) // the replica is gone
						}
					}
				}
			}()
		}
	}
	return l
}

func (l *load) stop() { l.cancel(); l.wg.Wait() }

func (l *load) unexpected() []string { l.mu.Lock(); defer l.mu.Unlock(); return l.bad }

// checkReplicas waits until every replica has applied the newest
// acknowledged write, then checks each holds every acknowledged transaction
// whole and that all hold one history: the same transactions, in the same
// order, none twice.
func checkReplicas(t *testing.T, reps []*testenv.Server, l *load, when string) {
	t.Helper()
	// Writes that committed but whose answer the stopped load never read
	// count too: wait for the newest index any replica has.
	// Requests the load gave up on may still commit: until the newest
	// index stops moving.
	target := l.maxIndex.Load()
	for settled := false; !settled; {
		for _, s := range reps {
			s.Must(t, 200, "GET", fmt.Sprintf("/amp/transactions?limit=1&min-index=%d", target), "")
		}
		time.Sleep(200 * time.Millisecond)
		settled = true
		for _, s := range reps {
			if h := history(t, s); len(h) > 0 {
				n, _ := strconv.ParseUint(strings.SplitN(h[0], ":", 2)[0], 10, 64)
				if n > target {
					target, settled = n, false
				}
			}
		}
	}
	var first []string
	for i, s := range reps {
		checkAcked(t, s, l.acked, fmt.Sprintf("%s, replica r%d", when, i+1))
		h := history(t, s)
		seen := map[string]bool{}
		for j, e := range h {
			if seen[e] {
				t.Fatalf("%s: replica r%d lists transaction %s twice", when, i+1, e)
			}
			seen[e] = true
			if want := fmt.Sprintf("%d:", len(h)-j); !strings.HasPrefix(e, want) {
				t.Fatalf("%s: replica r%d's history is not dense and ordered at %s (want index %s)", when, i+1, e, want)
			}
		}
		if i == 0 {
			first = h
			continue
		}
		if len(h) != len(first) {
			t.Fatalf("%s: replica r%d lists %d transactions, r1 %d", when, i+1, len(h), len(first))
		}
		for j := range h {
			if h[j] != first[j] {
				t.Fatalf("%s: replica r%d's history differs from r1's: %s vs %s", when, i+1, h[j], first[j])
			}
		}
	}
}

// history lists every transaction as "index:id:replica", newest first.
func history(t *testing.T, s *testenv.Server) []string {
	t.Helper()
	var out []string
	before := uint64(0)
	for {
		var page []struct {
			Index   uint64
			ID      string
			Replica string
		}
		path := "/amp/transactions?limit=10000"
		if before > 0 {
			path += fmt.Sprintf("&before=%d", before)
		}
		if err := json.Unmarshal(s.Must(t, 200, "GET", path, ""), &page); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			out = append(out, fmt.Sprintf("%d:%s:%s", e.Index, e.ID, e.Replica))
		}
		before = page[len(page)-1].Index
		if before == 1 {
			return out
		}
	}
}

// syncInfo is the part of GET /sync-status these tests read.
type syncInfo struct {
	Summary            map[string]int
	ControllersHere    map[string]bool   `json:"controllers-here"`
	ControllerReplicas map[string]string `json:"controller-replicas"`
}

func syncStatus(t *testing.T, s *testenv.Server) syncInfo {
	t.Helper()
	var st syncInfo
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/sync-status", ""), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestReplicasServeTogether is issue 5's replica story through the real
// binaries: three etcd members, two AMP replicas, both taking reads and
// writes. A write through one is read through the other (?min-index=);
// the SD-Core controller runs on exactly one replica, yet a write through
// either reaches the core. The replica running it is killed (-9) under
// load: clients of the other see no error, the controller moves, and
// nothing acknowledged by either is lost.
func TestReplicasServeTogether(t *testing.T) {
	c := etcd.Start(t, 3)
	emu, err := sdcore.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	bin := testenv.Binary(t)
	storeURL := "etcd://" + c.Endpoints() + "/amp-replicas/"
	grant := testenv.Backends(t, "acme", emu) // every replica loads the same backends file
	reps := startReplicas(t, bin, storeURL, 2, append(grant, "--probe-every", "200ms")...)
	a, b := reps[0], reps[1]
	a.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)

	// Read-your-writes: the index a's write returned, read on b.
	_, _, hdr, err := a.Do(context.Background(), "PATCH", "/aether-roc-api", emulatedSite(emu))
	if err != nil {
		t.Fatal(err)
	}
	idx := hdr.Get("X-AMP-Transaction-Index")
	body := string(b.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/s1/slice/sl1?min-index="+idx, ""))
	if !strings.Contains(body, `"uplink":50000000`) {
		t.Fatalf("replica b at ?min-index=%s does not show replica a's slice: %s", idx, body)
	}
	if p := string(b.Must(t, 400, "GET", "/enterprises?min-index=soon", "")); !strings.Contains(p, "?min-index") {
		t.Fatalf("a bad ?min-index is not named in the error: %s", p)
	}

	// Operational state reported to a is served by b.
	a.Must(t, 204, "PUT", "/state/aether/v2.1.x/acme/site/s1/device/d1/state", `{"ip-address":"10.250.0.9","connected":"Yes"}`)
	waitFor(t, func() bool {
		return strings.Contains(string(b.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/s1/device/d1", "")), `"ip-address":"10.250.0.9"`)
	}, "replica b to serve the state reported to a")

	// Exactly one replica runs the SD-Core controller.
	var leader, other *testenv.Server
	waitFor(t, func() bool {
		ra, rb := syncStatus(t, a).ControllersHere["sdcore"], syncStatus(t, b).ControllersHere["sdcore"]
		switch {
		case ra && !rb:
			leader, other = a, b
		case rb && !ra:
			leader, other = b, a
		default:
			return false
		}
		return true
	}, "exactly one replica to run the SD-Core controller")
	// A write through the replica that does not run it reaches the core.
	other.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/slice/sl1/mbr", `{"uplink":51000000}`)
	waitFor(t, func() bool {
		return strings.Contains(string(emu.Objects(sdcore.UPFSlices)["sl1"]), `"uplinkMBR":51000000`)
	}, "a write through the other replica to reach the UPF")

	// Kill -9 the controller's replica under load on both.
	load := startLoad(reps, 8)
	time.Sleep(700 * time.Millisecond)
	leaderIdx, otherIdx := 0, 1
	if leader == b {
		leaderIdx, otherIdx = 1, 0
	}
	leader.Kill()
	killed := time.Now()
	waitFor(t, func() bool { return syncStatus(t, other).ControllersHere["sdcore"] }, "the controller to move to the surviving replica")
	moved := time.Since(killed)
	other.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/slice/sl1/mbr", `{"uplink":52000000}`)
	waitFor(t, func() bool {
		return strings.Contains(string(emu.Objects(sdcore.UPFSlices)["sl1"]), `"uplinkMBR":52000000`)
	}, "a write after the move to reach the UPF")
	pushed := time.Since(killed)
	time.Sleep(500 * time.Millisecond) // more writes on the survivor alone
	load.stop()
	t.Logf("controller moved %.1f s after the kill, a new write reached the UPF at %.1f s; the survivor's clients saw %d failures, the dead replica's %d",
		moved.Seconds(), pushed.Seconds(), load.failedOn[otherIdx].Load(), load.failedOn[leaderIdx].Load())
	if n := load.failedOn[otherIdx].Load(); n != 0 {
		t.Errorf("clients of the surviving replica saw %d failed requests (first: %v)", n, load.firstFailure.Load())
	}
	for _, err := range load.unexpected() {
		t.Error(err)
	}
	if moved > 10*time.Second {
		t.Errorf("the controller took %.1f s to move; its lease is 3 s", moved.Seconds())
	}
	checkReplicas(t, []*testenv.Server{other}, load, "after a replica was killed")

	// The killed replica comes back, catches up, and serves as a replica
	// that runs no controller.
	back, err := testenv.StartErr(bin, leader.DataDir, append(grant, "--store", storeURL, "--replica-name", fmt.Sprintf("r%d", leaderIdx+1), "--probe-every", "200ms")...)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Stop()
	checkReplicas(t, []*testenv.Server{other, back}, load, "after the killed replica restarted")
	st := syncStatus(t, back)
	if st.ControllersHere["sdcore"] {
		t.Errorf("the restarted replica runs the SD-Core controller while the other still does")
	}
	if want := fmt.Sprintf("r%d", otherIdx+1); st.ControllerReplicas["sdcore"] != want {
		t.Errorf("the restarted replica says %q runs the SD-Core controller, want %s", st.ControllerReplicas["sdcore"], want)
	}
	metrics := string(back.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{
		`amp_leader{election="controller/sdcore"} 0`,
		`amp_replica_info{prefix="/amp-replicas/",replica="r`,
		"amp_config_replica_lag_indexes 0",
		`amp_etcd_request_duration_seconds_count{method="Txn",outcome="ok"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics of the restarted replica lacks %s", want)
		}
	}
}
