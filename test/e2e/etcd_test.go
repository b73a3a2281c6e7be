package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
