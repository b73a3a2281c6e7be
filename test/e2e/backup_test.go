package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestBackupRestoreMigrate: amp backup of a running server (bbolt, demo
// data and a few transactions, a rollback among them); amp restore into a
// fresh bbolt data dir and into a fresh etcd prefix; amp serve on each
// serves the same objects, history, diffs, point-in-time reads and
// rollbacks as the source, and so does a backup of the server on etcd
// restored into bbolt. Then amp migrate-store bbolt -> etcd -> bbolt,
// compared the same way, and the refusals: a non-empty target (left as it
// was) and a store a running server holds.
func TestBackupRestoreMigrate(t *testing.T) {
	bin := testenv.Binary(t)
	c := etcd.Start(t, 1)
	srcDir := t.TempDir()
	src := testenv.Start(t, srcDir, "--demo")
	base := "/aether/v2.1.x/acme/site/acme-chicago"
	src.Must(t, 201, "POST", base+"/slice/robots", `{"display-name":"Robots","sst":"1","sd":"00BEEF","default-behavior":"DENY-ALL","upf":"upf-1"}`)
	src.Must(t, 200, "PATCH", base+"/slice/robots", `{"display-name":"Robot fleet"}`)
	src.Must(t, 200, "PATCH", base+"/upf/upf-1", `{"port":8806}`)
	renamed := lastIndex(t, src) - 1
	src.Must(t, 200, "POST", fmt.Sprintf("/transactions/%d/rollback", renamed), "")
	src.Must(t, 200, "DELETE", "/aether/v2.1.x/starbucks/site/starbucks-seattle/monitoring/edge-device/pi-1", "")
	src.Must(t, 201, "POST", "/tokens", `{"name":"ci","role":"enterprise-admin","enterprise":"acme"}`)
	want := observe(t, src, renamed)

	file := filepath.Join(t.TempDir(), "amp.ampbak")
	out, err := ampCLI(t, src.Env(), "backup", file)
	if err != nil || !strings.Contains(out, "written to "+file) {
		t.Fatalf("amp backup: %v\n%s", err, out)
	}
	if m := string(src.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_backups_total{result="ok"} 1`) || strings.Contains(m, "amp_backup_last_success_timestamp_seconds 0\n") {
		t.Fatalf("backup metrics after a backup:\n%s", grepLines(m, "amp_backup"))
	}

	// Restore into bbolt and into etcd; serve each and compare.
	boltDir := restoreInto(t, src, file, "--data-dir")
	onBolt := startWithToken(t, bin, src, boltDir)
	compare(t, "restored into bbolt", observe(t, onBolt, renamed), want)
	etcdURL := "etcd://" + c.Endpoints() + "/amp-restored/"
	etcdDir := restoreInto(t, src, file, "--store", etcdURL, "--data-dir")
	onEtcd := startWithToken(t, bin, src, etcdDir, "--store", etcdURL)
	compare(t, "restored into etcd", observe(t, onEtcd, renamed), want)

	// A backup of the server on etcd restores into bbolt the same again.
	fromEtcd := filepath.Join(t.TempDir(), "from-etcd.ampbak")
	if out, err := ampCLI(t, onEtcd.Env(), "backup", fromEtcd); err != nil || !strings.Contains(out, "(etcd store") {
		t.Fatalf("amp backup of the server on etcd: %v\n%s", err, out)
	}
	// While it runs, migrating from its prefix is refused.
	if out, err := ampCLI(t, nil, "migrate-store", "--from", etcdURL, "--to", "bbolt", "--data-dir", t.TempDir()); err == nil || !strings.Contains(out, "amp serve") {
		t.Fatalf("migrate-store from an etcd prefix a server runs on: %v\n%s", err, out)
	}
	onBolt2 := startWithToken(t, bin, src, restoreInto(t, onEtcd, fromEtcd, "--data-dir"))
	compare(t, "backed up from etcd, restored into bbolt", observe(t, onBolt2, renamed), want)
	onBolt2.Stop()

	// The restored stores are not empty: a second restore is refused and
	// changes nothing.
	onBolt.Stop()
	onEtcd.Stop()
	for _, target := range [][]string{{"--data-dir", boltDir}, {"--store", etcdURL, "--data-dir", etcdDir}} {
		out, err := ampCLI(t, nil, append([]string{"restore", file}, target...)...)
		if err == nil || !strings.Contains(out, "the target store is not empty") || !strings.Contains(out, "nothing was changed") {
			t.Fatalf("restore into a non-empty store %v: %v\n%s", target, err, out)
		}
	}
	onBolt = startWithToken(t, bin, src, boltDir)
	compare(t, "bbolt store after a refused restore", observe(t, onBolt, renamed), want)
	onBolt.Stop()

	// A store a running server holds is refused.
	out, err = ampCLI(t, nil, "migrate-store", "--from", "bbolt", "--to", "etcd://"+c.Endpoints()+"/amp-busy/", "--data-dir", srcDir)
	if err == nil || !strings.Contains(out, "is another amp serve using this data dir?") {
		t.Fatalf("migrate-store from a bbolt store in use: %v\n%s", err, out)
	}

	// migrate-store bbolt -> etcd -> bbolt.
	src.Stop()
	migrated := "etcd://" + c.Endpoints() + "/amp-migrated/"
	out, err = ampCLI(t, nil, "migrate-store", "--from", "bbolt", "--data-dir", srcDir, "--to", migrated)
	if err != nil || !strings.Contains(out, "migrated index") {
		t.Fatalf("migrate-store bbolt -> etcd: %v\n%s", err, out)
	}
	backDir := t.TempDir()
	out, err = ampCLI(t, nil, "migrate-store", "--from", migrated, "--to", "bbolt", "--data-dir", backDir)
	if err != nil || !strings.Contains(out, "migrated index") {
		t.Fatalf("migrate-store etcd -> bbolt: %v\n%s", err, out)
	}
	onMigrated := startWithToken(t, bin, src, t.TempDir(), "--store", migrated)
	compare(t, "migrated to etcd", observe(t, onMigrated, renamed), want)
	onMigrated.Stop()
	onBack := startWithToken(t, bin, src, backDir)
	compare(t, "migrated to etcd and back to bbolt", observe(t, onBack, renamed), want)
	// The migrated store takes new writes after the restored history.
	onBack.Must(t, 200, "PATCH", base+"/upf/upf-1", `{"port":8807}`)
}

// restoreInto runs amp restore of a backup src took, checked with src's
// backup key, with the flags given, the last of which takes a fresh
// directory, and returns that directory.
func restoreInto(t *testing.T, src *testenv.Server, file string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := ampCLI(t, nil, append(append([]string{"restore", file, "--backup-key", filepath.Join(src.DataDir, "backup.key")}, flags...), dir)...)
	if err != nil || !strings.Contains(out, "restored index") {
		t.Fatalf("amp restore %v: %v\n%s", flags, err, out)
	}
	return dir
}

// startWithToken starts amp serve on dir with the source's admin token: a
// restored store holds the source's tokens, so it creates no new one.
func startWithToken(t *testing.T, bin string, src *testenv.Server, dir string, args ...string) *testenv.Server {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(src.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartErr(bin, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func lastIndex(t *testing.T, s *testenv.Server) uint64 {
	t.Helper()
	// The operator's newest transaction (/readyz no longer tells the
	// index to anyone).
	var r []struct{ Index uint64 }
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions?limit=1", ""), &r); err != nil {
		t.Fatal(err)
	}
	if len(r) == 0 {
		return 0
	}
	return r[0].Index
}

// observe is what a client sees of a server's configuration and history:
// every enterprise's tree, the targets, the transaction list and each
// transaction, a diff over the whole history, a point-in-time read, a
// dry-run rollback (of the transaction after at), and the API tokens.
func observe(t *testing.T, s *testenv.Server, at uint64) map[string]string {
	t.Helper()
	o := map[string]string{}
	get := func(name, path string) []byte {
		b := s.Must(t, 200, "GET", path, "")
		o[name] = string(b)
		return b
	}
	var ents []map[string]any
	if err := json.Unmarshal(get("enterprises", "/enterprises"), &ents); err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		id := fmt.Sprint(e["enterprise-id"])
		get("tree "+id, "/aether/v2.1.x/"+id)
	}
	get("targets", "/targets")
	var txns []struct{ Index uint64 }
	if err := json.Unmarshal(get("transactions", "/amp/transactions?limit=10000"), &txns); err != nil {
		t.Fatal(err)
	}
	if len(txns) < 8 {
		t.Fatalf("%d transactions: %s", len(txns), o["transactions"])
	}
	for _, x := range txns {
		get(fmt.Sprintf("transaction %d", x.Index), fmt.Sprintf("/transactions/%d", x.Index))
	}
	last := txns[0].Index
	get("diff", fmt.Sprintf("/diff?from=1&to=%d", last))
	get("at", fmt.Sprintf("/aether/v2.1.x/acme/site/acme-chicago?at=%d", at))
	var rb map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "POST", fmt.Sprintf("/transactions/%d/rollback?dry-run=true", at+1), ""), &rb); err != nil {
		t.Fatal(err)
	}
	delete(rb, "time") // when the dry run ran
	b, _ := json.Marshal(rb)
	o["rollback dry run"] = string(b)
	var toks []map[string]any
	if err := json.Unmarshal(get("tokens", "/tokens"), &toks); err != nil || len(toks) != 2 {
		t.Fatalf("tokens: %v %s", err, o["tokens"])
	}
	return o
}

func compare(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: %s differs:\n got  %.2000s\n want %.2000s", what, k, got[k], want[k])
		}
	}
	t.FailNow()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
