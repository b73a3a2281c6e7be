// Package e2e drives the real amp binary over HTTP, as a user would.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

const site = `{"site-id":"s1","imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`

// TestDemoWalkthrough is the README's newcomer path through the real binary:
// create a slice, get precise errors, roll back an older transaction, read
// the configuration as it was.
func TestDemoWalkthrough(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	base := "/aether/v2.1.x/acme/site/acme-chicago"

	if code, _, _, _ := s.Do(context.Background(), "GET", base, "", "Authorization", ""); code != 401 {
		t.Fatalf("unauthenticated request: status %d, want 401", code)
	}
	s.Must(t, 200, "GET", "/healthz", "", "Authorization", "")

	// Create a slice.
	s.Must(t, 201, "POST", base+"/slice/robots", `{"display-name":"Robots","sst":"1","sd":"00BEEF","default-behavior":"DENY-ALL","upf":"upf-1"}`)
	b := s.Must(t, 200, "GET", base+"/slice/robots", "")
	if !strings.Contains(string(b), `"sd":"00BEEF"`) {
		t.Fatalf("slice read back: %s", b)
	}
	// An invalid IMSI names the leaf.
	b = s.Must(t, 400, "POST", base+"/sim-card/bad", `{"imsi":"31501"}`)
	if !strings.Contains(string(b), base+"/sim-card/bad/imsi") || !strings.Contains(string(b), "pattern") {
		t.Fatalf("invalid IMSI error: %s", b)
	}
	// A cross-site reference names the reference and where it looked.
	b = s.Must(t, 409, "POST", base+"/slice/robots", `{"upf":"upf-9","additionalProperties":{"unchanged":"sst,sd,default-behavior"}}`)
	if !strings.Contains(string(b), base+"/slice/robots/upf") || !strings.Contains(string(b), "upf-9") {
		t.Fatalf("dangling reference error: %s", b)
	}
	// Two changes, then roll back the older one.
	_, _, h, _ := s.Do(context.Background(), "PATCH", base+"/slice/robots", `{"display-name":"Robot fleet"}`)
	older := h.Get("X-AMP-Transaction-Index")
	s.Must(t, 200, "PATCH", base+"/upf/upf-1", `{"port":8806}`)
	s.Must(t, 200, "POST", "/transactions/"+older+"/rollback", "")
	b = s.Must(t, 200, "GET", base+"/slice/robots/display-name", "")
	if strings.TrimSpace(string(b)) != `"Robots"` {
		t.Fatalf("after rollback display-name = %s", b)
	}
	b = s.Must(t, 200, "GET", base+"/upf/upf-1/port", "")
	if strings.TrimSpace(string(b)) != "8806" {
		t.Fatalf("rollback touched a later change: port = %s", b)
	}
	// Point-in-time read.
	b = s.Must(t, 200, "GET", base+"/slice/robots/display-name?at="+older, "")
	if strings.TrimSpace(string(b)) != `"Robot fleet"` {
		t.Fatalf("display-name at %s = %s", older, b)
	}
	// Observability.
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{"amp_http_requests_total", "amp_config_transactions_total", "amp_config_commit_duration_seconds", "amp_store_size_bytes"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.Must(t, 200, "GET", "/readyz", "", "Authorization", "")
	s.Must(t, 200, "PUT", "/admin/log-level", `{"level":"debug"}`)
	s.Must(t, 200, "GET", "/spec", "")
}

// TestFailedLargeTransactionLeavesNoTrace sends 10,000 SIM cards in one
// transaction whose last one is invalid: nothing of it may remain.
func TestFailedLargeTransactionLeavesNoTrace(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)
	var sims []string
	for i := 1; i <= 10000; i++ {
		imsi := fmt.Sprintf("315010001%06d", i)
		if i == 10000 {
			imsi = "not-an-imsi"
		}
		sims = append(sims, fmt.Sprintf(`{"sim-id":"sim-%d","imsi":"%s"}`, i, imsi))
	}
	body := `{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"s1","sim-card":[` + strings.Join(sims, ",") + `]}]}}`
	before := lastIndex(t, s)
	b := s.Must(t, 400, "PATCH", "/aether-roc-api", body)
	if !strings.Contains(string(b), "/aether/v2.1.x/acme/site/s1/sim-card/sim-10000/imsi") {
		t.Fatalf("error does not name the 10,000th SIM: %.300s", b)
	}
	if after := lastIndex(t, s); after != before {
		t.Fatalf("index moved from %d to %d", before, after)
	}
	s.Must(t, 404, "GET", "/aether/v2.1.x/acme/site/s1/sim-card/sim-1", "")
}

// TestKill9LosesNothing kills `amp serve` with SIGKILL at random moments
// while 16 clients write two-object transactions, restarts it, and checks
// that every acknowledged transaction is there and no transaction is there
// in part. AMP_KILL_ITERATIONS raises the count for a soak run.
func TestKill9LosesNothing(t *testing.T) {
	iterations := 8
	if v, err := strconv.Atoi(os.Getenv("AMP_KILL_ITERATIONS")); err == nil && v > 0 {
		iterations = v
	}
	t.Run("bbolt", func(t *testing.T) { kill9LosesNothing(t, iterations) })
	// The same with the store on a real etcd (Debian's etcd-server): what
	// AMP acknowledged must be in etcd, whole, when it comes back.
	t.Run("etcd", func(t *testing.T) {
		c := etcd.Start(t, 1)
		kill9LosesNothing(t, (iterations+1)/2, "--store", "etcd://"+c.Endpoints()+"/amp-kill9/")
	})
}

func kill9LosesNothing(t *testing.T, iterations int, args ...string) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	s, err := testenv.StartErr(bin, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)

	var counter atomic.Int64
	acked := &ackLog{ids: map[string]bool{}}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for it := 0; it < iterations; it++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					id, body := simDeviceTxn(counter.Add(1))
					code, _, _, err := s.Do(ctx, "PATCH", "/aether-roc-api", body)
					if err == nil && code == 200 {
						acked.add(id)
					}
				}
			}()
		}
		time.Sleep(time.Duration(150+rng.Intn(400)) * time.Millisecond)
		s.Kill()
		cancel()
		wg.Wait()
		s, err = testenv.StartErr(bin, dir, args...)
		if err != nil {
			t.Fatalf("restart after kill %d: %v", it+1, err)
		}
		sims := checkAcked(t, s, acked, fmt.Sprintf("kill %d", it+1))
		t.Logf("kill %d: %d acknowledged, %d present", it+1, acked.len(), len(sims))
	}
	s.Stop()
	if acked.len() == 0 {
		t.Fatal("no write was acknowledged: the test proved nothing")
	}
}

// simDeviceTxn is the n-th transaction of the durability tests: a SIM and
// the device that uses it, in one PATCH /aether-roc-api, so that a SIM
// without its device shows a transaction applied in part.
func simDeviceTxn(n int64) (id, body string) {
	id = fmt.Sprintf("k%d", n)
	body = fmt.Sprintf(`{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"s1",`+
		`"sim-card":[{"sim-id":"%s","iccid":"89%016dF","imsi":"315010001%06d"}],`+
		`"device":[{"device-id":"%s","imei":"%015d","sim-card":"%s"}]}]}}`, id, n, n, id, n, id)
	return id, body
}

// ackLog holds the ids of the transactions a server acknowledged.
type ackLog struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *ackLog) add(id string) { a.mu.Lock(); a.ids[id] = true; a.mu.Unlock() }

func (a *ackLog) len() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.ids) }

// checkAcked fails the test unless every acknowledged simDeviceTxn is on
// the server whole and none is there in part; it returns the SIMs present.
func checkAcked(t *testing.T, s *testenv.Server, acked *ackLog, when string) map[string]bool {
	t.Helper()
	sims := ids(t, s, "/aether/v2.1.x/acme/site/s1/sim-card", "sim-id")
	devices := ids(t, s, "/aether/v2.1.x/acme/site/s1/device", "device-id")
	acked.mu.Lock()
	defer acked.mu.Unlock()
	for id := range acked.ids {
		if !sims[id] || !devices[id] {
			t.Fatalf("%s: acknowledged transaction %s lost (sim %v, device %v)", when, id, sims[id], devices[id])
		}
	}
	for id := range sims {
		// simDeviceTxn's ids start with k; other SIMs are fixtures.
		if strings.HasPrefix(id, "k") && !devices[id] {
			t.Fatalf("%s: transaction %s is there in part: SIM without its device", when, id)
		}
	}
	return sims
}

func ids(t *testing.T, s *testenv.Server, path, key string) map[string]bool {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", path, ""), &list); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(list))
	for _, e := range list {
		out[e[key].(string)] = true
	}
	return out
}

// TestHostileInput: oversized bodies, deep nesting, bad JSON and hostile
// paths get clean 4xx problem+json answers, never a 500.
func TestHostileInput(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--max-body", "65536")
	base := "/aether/v2.1.x/acme/site/acme-chicago"
	big := `{"description":"` + strings.Repeat("x", 70000) + `"}`
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"POST", base + "/upf/upf-1", big, 413},
		{"POST", base + "/upf/upf-1", deep[:60000], 400},
		{"POST", base + "/upf/upf-1", `{"port":`, 400},
		{"POST", base + "/upf/upf-1", `{"port":1}{"port":2}`, 400},
		{"POST", base + "/upf/upf-1", `[]`, 400},
		{"POST", base + "/upf/upf-1", `{"port":1e99}`, 400},
		{"POST", base + "/upf/upf-1", `{"port":"0x10"}`, 400},
		{"POST", base + "/upf/upf-1", `{"upf-id":"other"}`, 400},
		{"GET", "/aether/v2.1.x/acme/site/%2e%2e/x", "", 400},
		{"GET", "/aether/v2.1.x/acme/site/" + strings.Repeat("a", 70), "", 400},
		{"GET", "/aether/v2.1.x/acme/site/acme-chicago/%ff%fe", "", 404},
		{"GET", "/aether/v9/acme/site", "", 404},
		{"GET", "/aether/v2.1.x/undefined/site", "", 422},
		{"DELETE", base + "/device/nope", "", 404},
		{"PUT", base + "/device/camera-1/state", `{"connected":"Yes"}`, 400},
	}
	for _, c := range cases {
		code, b, h, err := s.Do(context.Background(), c.method, c.path, c.body)
		if err != nil {
			t.Fatal(err)
		}
		if code != c.want || !strings.Contains(h.Get("Content-Type"), "problem+json") {
			t.Errorf("%s %s (%d bytes): status %d %s, want %d problem+json: %.200s", c.method, c.path, len(c.body), code, h.Get("Content-Type"), c.want, b)
		}
	}
}
