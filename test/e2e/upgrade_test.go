package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// The stores and the backup in test/testdata/legacy-store were written by
// the release before storage keys carried the model-set version
// ("aether/acme/site/s1"): the demo data (transactions 1-3), then
// transaction 4 renamed acme-chicago and 5 described starbucks-newyork.

const (
	chicago = "/aether/v2.1.x/acme/site/acme-chicago"
	newyork = "/aether/v2.1.x/starbucks/site/starbucks-newyork"
)

func legacyFixture(name string) string {
	return filepath.Join(testenv.RepoRoot(), "test", "testdata", "legacy-store", name)
}

// legacyBolt unpacks the legacy bbolt store into a new data dir. Its admin
// token was not kept, so the marker that one was created goes: the first
// start mints a new one.
func legacyBolt(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", legacyFixture("legacy-bolt.tgz"), "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("untar: %v\n%s", err, out)
	}
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.DeleteMeta("admin-token-created"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// legacyEtcd puts every key of the legacy etcd store under prefix in c,
// but the admin token's marker (see legacyBolt), and returns the --store
// URL.
func legacyEtcd(t *testing.T, c *etcd.Cluster, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(legacyFixture("legacy-etcd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kvs []struct{ Key, Value string }
	if err := json.Unmarshal(b, &kvs); err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, c)
	for _, kv := range kvs {
		if kv.Key == "/amp/meta/admin-token-created" {
			continue
		}
		v, err := base64.StdEncoding.DecodeString(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(context.Background(), prefix+strings.TrimPrefix(kv.Key, "/amp/"), string(v)); err != nil {
			t.Fatal(err)
		}
	}
	return "etcd://" + c.Endpoints() + prefix
}

func etcdClient(t *testing.T, c *etcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(c.Endpoints(), ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leaf reads one leaf as JSON text.
func leaf(t *testing.T, s *testenv.Server, path string) string {
	t.Helper()
	return strings.TrimSpace(string(s.Must(t, 200, "GET", path, "")))
}

type txnSummary struct {
	Index   uint64
	Targets []string
}

func summaries(t *testing.T, s *testenv.Server, query string) []txnSummary {
	t.Helper()
	var txns []txnSummary
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions"+query, ""), &txns); err != nil {
		t.Fatal(err)
	}
	return txns
}

// checkLegacyDemo checks what the previous release wrote, read through
// the new one: values, the five transactions in both listings, a
// transaction's changes, a diff and point-in-time reads between old
// indexes. extraSIMs is how many SIM cards a test added to acme-chicago.
func checkLegacyDemo(t *testing.T, s *testenv.Server, extraSIMs int) {
	t.Helper()
	for path, want := range map[string]string{
		chicago + "/display-name":                                `"Chicago (renamed)"`,
		newyork + "/description":                                 `"written by the pre-model-set release"`,
		chicago + "/sim-card/sim-1/imsi":                         `"315010001000001"`,
		chicago + "/device/camera-1/sim-card":                    `"sim-1"`,
		chicago + "/upf/upf-1/port":                              `8805`,
		chicago + "/display-name?at=3":                           `"Chicago plant"`,
		chicago + "/display-name?at=4":                           `"Chicago (renamed)"`,
		"/aether/v2.1.x/acme/traffic-class/class-1/display-name": `"Real time"`,
		newyork + "/sim-card/sim-1/imsi":                         `"315010002001001"`,
		newyork + "/upf/upf-1/address":                           `"upf1.starbucks-newyork.local"`,
		newyork + "/device/camera-1/display-name":                `"Camera 1"`,
	} {
		if got := leaf(t, s, path); got != want {
			t.Errorf("GET %s = %s, want %s", path, got, want)
		}
	}
	var sims []map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", chicago+"/sim-card", ""), &sims); err != nil || len(sims) != 8+extraSIMs {
		t.Errorf("acme-chicago's SIM cards: %v, %d, want %d", err, len(sims), 8+extraSIMs)
	}
	var roc []struct{ Index uint64 }
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions", ""), &roc); err != nil {
		t.Fatal(err)
	}
	if len(roc) < 5 || roc[0].Index != 1 || roc[4].Index != 5 {
		t.Errorf("/transactions: %+v, want 1-5 first", roc)
	}
	txns := summaries(t, s, "?limit=100")
	byIndex := map[uint64][]string{}
	for _, x := range txns {
		byIndex[x.Index] = x.Targets
	}
	if !reflect.DeepEqual(byIndex[4], []string{"acme"}) || !reflect.DeepEqual(byIndex[5], []string{"starbucks"}) || len(byIndex[1]) == 0 {
		t.Errorf("/amp/transactions: enterprises of 4 and 5: %v %v, want [acme] [starbucks] (%+v)", byIndex[4], byIndex[5], txns)
	}
	var ofStarbucks []uint64
	for _, x := range summaries(t, s, "?enterprise=starbucks") {
		ofStarbucks = append(ofStarbucks, x.Index)
	}
	if len(ofStarbucks) == 0 || ofStarbucks[0] != 5 || contains(ofStarbucks, 4) {
		t.Errorf("/amp/transactions?enterprise=starbucks: %v, want 5 first and not 4", ofStarbucks)
	}
	var four struct {
		Changes []struct {
			Path, Op string
			Old, New any
		}
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions/4", ""), &four); err != nil {
		t.Fatal(err)
	}
	if len(four.Changes) != 1 || four.Changes[0].Path != chicago+"/display-name" || four.Changes[0].Old != "Chicago plant" || four.Changes[0].New != "Chicago (renamed)" {
		t.Errorf("/transactions/4: %+v", four)
	}
	var diff struct{ Changes []struct{ Path string } }
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/diff?from=3&to=5", ""), &diff); err != nil {
		t.Fatal(err)
	}
	if c := diff.Changes; len(c) != 2 || c[0].Path != chicago+"/display-name" || c[1].Path != newyork+"/description" {
		t.Errorf("/diff?from=3&to=5: %+v", diff)
	}
}

func contains(xs []uint64, x uint64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// upgradeCount is amp_store_upgrade_keys_total{kind="object"}.
func upgradeCount(t *testing.T, s *testenv.Server) string {
	return metricOf(t, s, `amp_store_upgrade_keys_total{kind="object"}`)
}

// TestUpgradeLegacyStore starts the new release on the stores the previous
// one wrote, bbolt and etcd: the first start moves every object to its
// versioned key, the demo data and the history read as they were written,
// transaction 4 rolls back, new writes go on top, and a restart (no second
// upgrade) keeps all of it.
func TestUpgradeLegacyStore(t *testing.T) {
	run := func(t *testing.T, dir string, args ...string) {
		bin := testenv.Binary(t)
		s, err := testenv.StartErr(bin, dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		if !strings.Contains(s.Log(), "store upgraded") || upgradeCount(t, s) == "0" {
			t.Fatalf("no upgrade on first start (moved %s objects):\n%s", upgradeCount(t, s), s.Log())
		}
		checkLegacyDemo(t, s, 0)
		s.Must(t, 200, "POST", "/transactions/4/rollback", "")
		s.Must(t, 200, "PATCH", newyork, `{"display-name":"New York (new release)"}`)
		after := func(s *testenv.Server) {
			t.Helper()
			if got := leaf(t, s, chicago+"/display-name"); got != `"Chicago plant"` {
				t.Errorf("after rolling back 4: display-name %s", got)
			}
			if got := leaf(t, s, newyork+"/display-name"); got != `"New York (new release)"` {
				t.Errorf("new write: display-name %s", got)
			}
			if got := leaf(t, s, newyork+"/description"); got != `"written by the pre-model-set release"` {
				t.Errorf("description %s", got)
			}
			if txns := summaries(t, s, ""); len(txns) != 7 || txns[0].Index != 7 {
				t.Errorf("/amp/transactions after two new ones: %+v", txns)
			}
		}
		after(s)
		s.Stop()
		s, err = testenv.StartErr(bin, dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		if strings.Contains(s.Log(), "upgrading a store") || upgradeCount(t, s) != "0" {
			t.Fatalf("second start upgraded again:\n%s", s.Log())
		}
		after(s)
		// The old records still read through the restart.
		if got := leaf(t, s, chicago+"/display-name?at=4"); got != `"Chicago (renamed)"` {
			t.Errorf("display-name at 4 after the restart: %s", got)
		}
	}
	t.Run("bbolt", func(t *testing.T) { run(t, legacyBolt(t)) })
	t.Run("etcd", func(t *testing.T) {
		c := etcd.Start(t, 1)
		run(t, t.TempDir(), "--store", legacyEtcd(t, c, "/amp-legacy/"))
	})
}

// TestRestoreLegacyBackup restores a backup the previous release made
// (signed with its key) into the new one: the signature is checked on the
// file as written, and the restored store upgrades on first start.
func TestRestoreLegacyBackup(t *testing.T) {
	// Another key than the one that signed it: refused, nothing written.
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := backup.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := ampCLI(t, nil, "restore", legacyFixture("legacy-backup.ampbak"), "--backup-key", other, "--data-dir", dir)
	if err == nil || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("amp restore with another key: %v\n%s", err, out)
	}
	out, err = ampCLI(t, nil, "restore", legacyFixture("legacy-backup.ampbak"), "--backup-key", legacyFixture("legacy-backup.key"), "--data-dir", dir)
	if err != nil || !strings.Contains(out, "restored index 5") {
		t.Fatalf("amp restore: %v\n%s", err, out)
	}
	tok, err := os.ReadFile(legacyFixture("legacy-backup.admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartErr(testenv.Binary(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if upgradeCount(t, s) == "0" {
		t.Fatalf("the restored store was not upgraded:\n%s", s.Log())
	}
	checkLegacyDemo(t, s, 0)
	s.Must(t, 200, "POST", "/transactions/4/rollback", "")
	if got := leaf(t, s, chicago+"/display-name"); got != `"Chicago plant"` {
		t.Errorf("after rolling back 4: display-name %s", got)
	}
}

// legacySIM is a SIM card as the store encodes objects
// (internal/config/object.go): created and modified indexes, then the
// leaves sorted by name, each a string.
func legacySIM(id string) []byte {
	b := []byte{2, 2, 2}
	for _, kv := range [][2]string{{"display-name", "SIM " + id}, {"sim-id", id}} {
		b = binary.AppendUvarint(b, uint64(len(kv[0])))
		b = append(append(b, kv[0]...), 's')
		b = binary.AppendUvarint(b, uint64(len(kv[1])))
		b = append(b, kv[1]...)
	}
	return b
}

// versioned is a legacy object key in the current form.
func versioned(key string) string {
	if strings.HasPrefix(key, "@target/") {
		return key
	}
	return strings.Replace(key, "aether/", "aether/2.1.x/", 1)
}

func boltObjects(t *testing.T, dir string) map[string]string {
	t.Helper()
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := map[string]string{}
	if err := st.Objects(func(k string, v []byte) error { m[k] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// startKillDuringUpgrade starts amp serve on dir and kills it with SIGKILL
// once it has logged `progress` lines of upgrade progress (0: as soon as
// it says the upgrade starts). It fails the test if the upgrade finished
// first, as the kill would then prove nothing.
func startKillDuringUpgrade(t *testing.T, dir string, progress int, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	seen, killed := 0, false
	var log strings.Builder
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if killed {
			continue
		}
		switch {
		case strings.Contains(line, "store upgraded"):
			t.Fatalf("the upgrade finished before the kill after %d progress lines:\n%s", progress, log.String())
		case strings.Contains(line, "upgrading a store") && progress == 0,
			strings.Contains(line, "store upgrade progress") && progress > 0 && seen+1 == progress:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		case strings.Contains(line, "store upgrade progress"):
			seen++
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("amp serve ended without upgrading:\n%s", log.String())
	}
}

// legacySIMs is n more SIM cards for acme-chicago, under keys of the
// previous release.
func legacySIMs(n int) []store.KV {
	kvs := make([]store.KV, n)
	for i := range kvs {
		id := fmt.Sprintf("gen-%06d", i)
		kvs[i] = store.KV{Key: "aether/acme/site/acme-chicago/sim-card/" + id, Value: legacySIM(id)}
	}
	return kvs
}

func etcdObjects(t *testing.T, cli *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix+"obj/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range resp.Kvs {
		m[strings.TrimPrefix(string(kv.Key), prefix+"obj/")] = string(kv.Value)
	}
	return m
}

// TestUpgradeKill9 makes the upgrade of the legacy stores long (more SIM
// cards in their checkpoints: sixteen batches on bbolt, five on etcd),
// kills amp serve with SIGKILL at several moments of it (as it starts,
// after one batch, after two or three, each restart going on from where
// the last stopped), checking each time that every object is
// under its old key, its new one or both with one value, then lets it
// finish: every object is under its new key alone with its value, and the
// demo data and history read as written.
func TestUpgradeKill9(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) {
		dir := legacyBolt(t)
		st, err := store.OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WriteObjects(legacySIMs(150_000), nil); err != nil {
			t.Fatal(err)
		}
		st.Close()
		upgradeKilled(t, dir, 150_000, []int{0, 1, 3}, func() map[string]string { return boltObjects(t, dir) })
	})
	t.Run("etcd", func(t *testing.T) {
		c := etcd.Start(t, 1)
		const prefix = "/amp-kill/"
		url := legacyEtcd(t, c, prefix)
		cli := etcdClient(t, c)
		n := putLegacySIMs(t, cli, prefix, 40_000)
		upgradeKilled(t, t.TempDir(), n, []int{0, 1, 2}, func() map[string]string { return etcdObjects(t, cli, prefix) }, "--store", url)
	})
}

// upgradeKilled kills amp serve during the upgrade of the store (objects
// reads it) after each count of batches in kills, then lets it finish
// and checks the result (see TestUpgradeKill9).
func upgradeKilled(t *testing.T, dir string, extra int, kills []int, objects func() map[string]string, args ...string) {
	legacy := objects()
	for _, progress := range kills {
		startKillDuringUpgrade(t, dir, progress, args...)
		now := objects()
		moved, both := 0, 0
		for k, v := range legacy {
			old, hasOld := now[k]
			nv, hasNew := now[versioned(k)]
			switch {
			case !hasOld && !hasNew:
				t.Fatalf("killed after %d batches: %s is lost", progress, k)
			case hasOld && old != v, hasNew && nv != v:
				t.Fatalf("killed after %d batches: %s changed", progress, k)
			case !hasOld && k != versioned(k):
				moved++
			case hasOld && hasNew && k != versioned(k):
				both++
			}
		}
		t.Logf("killed after %d batches: %d of %d objects moved, %d under both keys", progress, moved, len(legacy), both)
	}

	s, err := testenv.StartErr(testenv.Binary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	checkLegacyDemo(t, s, extra)
	for _, id := range []string{"gen-000000", fmt.Sprintf("gen-%06d", extra/2), fmt.Sprintf("gen-%06d", extra-1)} {
		if got := leaf(t, s, chicago+"/sim-card/"+id+"/display-name"); got != `"SIM `+id+`"` {
			t.Errorf("%s: display-name %s", id, got)
		}
	}
	s.Stop()
	now := objects()
	if len(now) != len(legacy) {
		t.Errorf("%d objects after the upgrade, %d before", len(now), len(legacy))
	}
	for k, v := range legacy {
		// Transactions 4 and 5 changed these; on bbolt they were in the
		// log only, and the final checkpoint wrote them.
		if strings.HasSuffix(k, "/site/acme-chicago") || strings.HasSuffix(k, "/site/starbucks-newyork") {
			continue
		}
		if now[versioned(k)] != v {
			t.Fatalf("%s: not under %s with its value", k, versioned(k))
		}
	}
}

// TestUpgradeReplicasTakeTurns starts two replicas of the new release at
// once on an old store in etcd: they take turns (a lock in etcd), so one
// moves every object and the other finds the store upgraded. Without the
// lock both upgraded, and the slower one could write back values it read
// before the faster one's upgrade and later commits.
func TestUpgradeReplicasTakeTurns(t *testing.T) {
	c := etcd.Start(t, 1)
	const prefix = "/amp-turns/"
	url := legacyEtcd(t, c, prefix)
	sims := putLegacySIMs(t, etcdClient(t, c), prefix, 20_000)
	bin := testenv.Binary(t)
	replicas := make([]*testenv.Server, 2)
	errs := make([]error, 2)
	dirs := []string{t.TempDir(), t.TempDir()}
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replicas[i], errs[i] = testenv.StartErr(bin, dirs[i], "--store", url)
		}()
	}
	// Whichever replica creates the first admin token (in the shared
	// store) writes it to its own data dir; the other one's tests use it.
	shared := make(chan struct{})
	go func() {
		defer close(shared)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for i, d := range dirs {
				if tok, err := os.ReadFile(filepath.Join(d, "admin.token")); err == nil && len(tok) > 0 {
					_ = os.WriteFile(filepath.Join(dirs[1-i], "admin.token"), tok, 0o600)
					return
				}
			}
		}
	}()
	wg.Wait()
	<-shared
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer replicas[i].Stop()
	}
	upgraded := 0
	for _, s := range replicas {
		if n := upgradeCount(t, s); n != "0" {
			upgraded++
			if !strings.Contains(s.Log(), "store upgraded") {
				t.Errorf("moved %s objects without logging the upgrade:\n%s", n, s.Log())
			}
		}
	}
	if upgraded != 1 {
		t.Fatalf("%d replicas upgraded the store, want exactly 1:\n%s\n----\n%s", upgraded, replicas[0].Log(), replicas[1].Log())
	}
	for _, s := range replicas {
		checkLegacyDemo(t, s, sims)
	}
}

// putLegacySIMs writes n SIM cards under their old-form keys straight into
// the store at prefix in etcd, to make an upgrade long; it returns n.
func putLegacySIMs(t *testing.T, cli *clientv3.Client, prefix string, n int) int {
	t.Helper()
	sims := legacySIMs(n)
	for i := 0; i < len(sims); i += 128 {
		var ops []clientv3.Op
		for _, kv := range sims[i:min(i+128, len(sims))] {
			ops = append(ops, clientv3.OpPut(prefix+"obj/"+kv.Key, string(kv.Value)))
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}
