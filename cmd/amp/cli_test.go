package main

// End-to-end tests of the client verbs: TestMain builds the amp binary,
// starts "amp serve --demo" on a free port and runs the verbs as
// subprocesses against it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	ampBin    string
	ampServer string
	ampToken  string
	ampCA     string // the server's local CA, <data>/tls/ca.crt
	ampKey    string // the server's backup key, <data>/backup.key
	setupErr  error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "amp-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ampBin = filepath.Join(dir, "amp")
	if out, err := exec.Command("go", "build", "-o", ampBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	data := filepath.Join(dir, "data")
	srv := exec.Command(ampBin, "serve", "--demo", "--data-dir", data, "--listen", "127.0.0.1:0", "--log-level", "info")
	srv.Env = append(os.Environ(), "AMP_DATA_DIR="+data)
	stderr, err := srv.StderrPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`"msg":"amp serving".*"address":"([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case ampServer = <-addr:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "amp serve did not report its address")
		return 1
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ampToken = strings.TrimSpace(string(tok))
	ampCA = filepath.Join(data, "tls", "ca.crt")
	ampKey = filepath.Join(data, "backup.key")
	return m.Run()
}

type result struct {
	stdout, stderr string
	code           int
}

// amp runs the binary with the test server's address and token.
func amp(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(ampBin, args...)
	cmd.Env = append(os.Environ(), "AMP_SERVER="+ampServer, "AMP_TOKEN="+ampToken, "AMP_CA="+ampCA, "AMP_ENTERPRISE=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run amp %v: %v", args, err)
	}
	return r
}

func mustAmp(t *testing.T, args ...string) string {
	t.Helper()
	r := amp(t, "", args...)
	if r.code != 0 {
		t.Fatalf("amp %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestGetList(t *testing.T) {
	out := mustAmp(t, "get", "-e", "acme", "site/acme-chicago/device")
	if !strings.HasPrefix(out, "DEVICE-ID") || !strings.Contains(out, "camera-1") || !strings.Contains(out, "sensor-8") {
		t.Fatalf("table:\n%s", out)
	}
	out = mustAmp(t, "get", "/aether/v2.1.x/acme/site", "-o", "json")
	var sites []map[string]any
	if err := json.Unmarshal([]byte(out), &sites); err != nil || len(sites) != 2 {
		t.Fatalf("json: %v\n%s", err, out)
	}
	// Paging: --limit 3 --all follows the continue tokens.
	out = mustAmp(t, "get", "-e", "acme", "site/acme-chicago/sim-card", "--limit", "3", "--all", "-o", "json")
	var sims []map[string]any
	if err := json.Unmarshal([]byte(out), &sims); err != nil || len(sims) < 8 {
		t.Fatalf("--all: %v, %d sims", err, len(sims))
	}
	out = mustAmp(t, "get", "-e", "acme", "site/acme-chicago/device", "--filter", "sim-card=sim-2", "-o", "json")
	if !strings.Contains(out, "camera-2") || strings.Contains(out, "camera-1") {
		t.Fatalf("filter:\n%s", out)
	}
}

func TestSetAndReadBack(t *testing.T) {
	out := mustAmp(t, "set", "-e", "acme", "site/acme-dallas/upf/upf-1/port=9001", "site/acme-dallas/sim-card/sim-3/display-name=Third SIM", "-m", "test set")
	if !strings.Contains(out, "upf/upf-1/port: 8805 → 9001") || !strings.Contains(out, "committed transaction") {
		t.Fatalf("set output:\n%s", out)
	}
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "acme", "site/acme-dallas/upf/upf-1/port")); got != "9001" {
		t.Fatalf("port = %q", got)
	}
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "acme", "site/acme-dallas/sim-card/sim-3/display-name")); got != "Third SIM" {
		t.Fatalf("display-name = %q", got)
	}
	// An IMSI with leading zeros stays a string.
	mustAmp(t, "set", "-e", "acme", "site/acme-dallas/sim-card/sim-3/imsi=001010001000003")
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "acme", "site/acme-dallas/sim-card/sim-3/imsi")); got != "001010001000003" {
		t.Fatalf("imsi = %q", got)
	}
	// History shows it, with the message and the cli source.
	out = mustAmp(t, "history", "--limit", "5", "-o", "json")
	var txs []map[string]any
	if err := json.Unmarshal([]byte(out), &txs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tx := range txs {
		if tx["message"] == "test set" && tx["source"] == "cli" {
			found = true
		}
	}
	if !found {
		t.Fatalf("history lacks the set:\n%s", out)
	}
	table := mustAmp(t, "history", "--limit", "5")
	if !strings.HasPrefix(table, "INDEX") || !strings.Contains(table, "test set") {
		t.Fatalf("history table:\n%s", table)
	}
}

func TestSetAcrossEnterprises(t *testing.T) {
	out := mustAmp(t, "set", "/aether/v2.1.x/acme/site/acme-chicago/small-cell/cell-1/display-name=A1",
		"/aether/v2.1.x/starbucks/site/starbucks-seattle/small-cell/cell-1/display-name=S1")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "starbucks") || !strings.Contains(out, "2 changes") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestInvalidIMSI(t *testing.T) {
	r := amp(t, "", "set", "-e", "acme", "site/acme-chicago/sim-card/sim-1/imsi=12")
	if r.code != 1 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, "  /aether/v2.1.x/acme/site/acme-chicago/sim-card/sim-1/imsi: ") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"get"}, {"get", "site"}, {"set", "noequals"}, {"history", "--bogus"}, {"rollback", "x"}} {
		if r := amp(t, "", args...); r.code != 2 || !strings.Contains(r.stderr, "error: ") {
			t.Errorf("amp %v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := amp(t, "", "delete", "-e", "acme", "site/acme-chicago/device/nope"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("delete missing: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestApplyDryRun(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "upf.yaml")
	os.WriteFile(f, []byte(`enterprise: acme
path: site/acme-chicago
value:
  upf:
    - upf-id: upf-9
      address: upf9.acme-chicago.local
      port: 8805
`), 0o644)
	before := lastIndex(t)
	out := mustAmp(t, "apply", "-f", f, "--dry-run")
	if !strings.Contains(out, "+ /aether/v2.1.x/acme/site/acme-chicago/upf/upf-9") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run:\n%s", out)
	}
	if lastIndex(t) != before {
		t.Fatalf("a dry run committed a transaction")
	}
	if r := amp(t, "", "get", "-e", "acme", "site/acme-chicago/upf/upf-9"); r.code != 1 {
		t.Fatalf("upf-9 exists after a dry run: %+v", r)
	}
	// A directory: the files together, as one transaction.
	os.WriteFile(filepath.Join(dir, "z.json"), []byte(`{"default-target":"acme","Updates":{"traffic-class-2.1.0":[{"traffic-class-id":"class-9","qci":9,"arp":9,"pdb":300,"pelr":6}]}}`), 0o644)
	out = mustAmp(t, "apply", "-f", dir)
	if !strings.Contains(out, "upf-9") || !strings.Contains(out, "class-9") || lastIndex(t) != before+1 {
		t.Fatalf("apply dir:\n%s", out)
	}
	// A path below a top-level entry is refused, naming the file.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("path: /aether/v2.1.x/acme/site/acme-chicago/upf/upf-1\nvalue: {port: 1}\n"), 0o644)
	if r := amp(t, "", "apply", "-f", bad); r.code != 1 || !strings.Contains(r.stderr, "bad.yml") {
		t.Fatalf("bad apply: %+v", r)
	}
}

func lastIndex(t *testing.T) uint64 {
	t.Helper()
	var txs []struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal([]byte(mustAmp(t, "history", "--limit", "1", "-o", "json")), &txs); err != nil || len(txs) == 0 {
		t.Fatalf("history: %v", err)
	}
	return txs[0].Index
}

func TestRollbackAndDiff(t *testing.T) {
	mustAmp(t, "set", "-e", "starbucks", "site/starbucks-newyork/ip-domain/pool-1/mtu=1400")
	first := lastIndex(t)
	mustAmp(t, "set", "-e", "starbucks", "site/starbucks-newyork/small-cell/cell-2/display-name=Back room")
	out := mustAmp(t, "diff", strconv.FormatUint(first-1, 10), strconv.FormatUint(first+1, 10))
	if !strings.Contains(out, "mtu") || !strings.Contains(out, "Back room") {
		t.Fatalf("diff:\n%s", out)
	}
	// Roll back the older of the two transactions.
	out = mustAmp(t, "rollback", strconv.FormatUint(first, 10))
	if !strings.Contains(out, "rolled back transaction") {
		t.Fatalf("rollback:\n%s", out)
	}
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "starbucks", "site/starbucks-newyork/ip-domain/pool-1/mtu")); got != "1460" {
		t.Fatalf("mtu after rollback = %q", got)
	}
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "starbucks", "site/starbucks-newyork/small-cell/cell-2/display-name")); got != "Back room" {
		t.Fatalf("the later change was lost: %q", got)
	}
	// Rolling back the demo data conflicts with the later changes.
	r := amp(t, "", "rollback", "3")
	if r.code != 1 || !strings.Contains(r.stderr, "error: cannot roll back transaction 3") || !strings.Contains(r.stderr, "  /aether/v2.1.x/starbucks/") {
		t.Fatalf("conflict: %+v", r)
	}
	out = mustAmp(t, "history", "show", strconv.FormatUint(first, 10))
	if !strings.Contains(out, "mtu: 1460 → 1400") {
		t.Fatalf("history show:\n%s", out)
	}
}

func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("enterprise,site,sim-id,iccid,imsi,device-id,imei,display-name,device-group\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "acme,acme-dallas,t-sim-%d,8901%015d,31501077%07d,t-dev-%d,37%014d,Test %d,sensors\n", i, i, i, i, i, i)
	}
	f := filepath.Join(dir, "sims.csv")
	os.WriteFile(f, []byte(b.String()), 0o644)
	out := mustAmp(t, "import", f, "-o", "json")
	var sum struct {
		Rows    int `json:"rows"`
		Batches []struct {
			Index          uint64 `json:"index"`
			ChangedObjects int    `json:"changed-objects"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Rows != 1000 || len(sum.Batches) != 1 {
		t.Fatalf("import: %v\n%s", err, out)
	}
	count := func(list string) int {
		var items []map[string]any
		json.Unmarshal([]byte(mustAmp(t, "get", "-e", "acme", "site/acme-dallas/"+list, "-o", "json", "--all", "--limit", "5000")), &items)
		n := 0
		for _, it := range items {
			for _, v := range it {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "t-") {
					n++
					break
				}
			}
		}
		return n
	}
	if n := count("sim-card"); n != 1000 {
		t.Fatalf("%d imported SIMs", n)
	}
	if n := count("device"); n != 1000 {
		t.Fatalf("%d imported devices", n)
	}
	// Importing again changes nothing, and records nothing.
	out = mustAmp(t, "import", f)
	if !strings.Contains(out, "no changes, nothing recorded") {
		t.Fatalf("re-import:\n%s", out)
	}
	// Export as CSV round-trips: importing it changes nothing either.
	exp := mustAmp(t, "export", "-e", "acme", "--site", "acme-dallas", "-o", "csv")
	if !strings.Contains(exp, "acme,acme-dallas,t-sim-5,8901000000000000005,315010770000005,t-dev-5,3700000000000005,Test 5,sensors") {
		t.Fatalf("export lacks row:\n%.500s", exp)
	}
	ef := filepath.Join(dir, "export.csv")
	os.WriteFile(ef, []byte(exp), 0o644)
	out = mustAmp(t, "import", ef)
	if !strings.Contains(out, "no changes") {
		t.Fatalf("import of the export:\n%s", out)
	}
	// Bad rows are reported with their line numbers and nothing is sent.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("site,sim-id,imsi\nacme-dallas,ok-1,315010770000001\nacme-dallas,Bad_Id,12\nacme-dallas\n"), 0o644)
	r := amp(t, "", "import", "-e", "acme", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "line 3: ") || !strings.Contains(r.stderr, "line 4: ") || strings.Contains(r.stderr, "line 2: ") {
		t.Fatalf("bad rows: %+v", r)
	}
	// --batch commits separate transactions (new display names, so each
	// batch changes something).
	renamed := filepath.Join(dir, "renamed.csv")
	os.WriteFile(renamed, []byte(strings.ReplaceAll(b.String(), ",Test ", ",Renamed ")), 0o644)
	out = mustAmp(t, "import", renamed, "--batch", "400")
	if strings.Count(out, "committed as") != 3 {
		t.Fatalf("batches:\n%s", out)
	}
}

func TestEnterprise(t *testing.T) {
	mustAmp(t, "enterprise", "create", "contoso", "--display-name", "Contoso")
	if out := mustAmp(t, "enterprise", "list"); !strings.Contains(out, "contoso") || !strings.Contains(out, "Contoso") {
		t.Fatalf("list:\n%s", out)
	}
	mustAmp(t, "enterprise", "delete", "contoso")
	if out := mustAmp(t, "enterprise", "list", "-o", "json"); strings.Contains(out, "contoso") {
		t.Fatalf("still listed:\n%s", out)
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := mustAmp(t, "completion", sh); !strings.Contains(out, "amp") || len(out) < 500 {
			t.Errorf("completion %s: %.200s", sh, out)
		}
	}
	out := mustAmp(t, "__complete", "get", "-e", "acme", "site/acme-chicago/u")
	if !strings.Contains(out, "site/acme-chicago/upf/") {
		t.Errorf("path completion:\n%s", out)
	}
}
