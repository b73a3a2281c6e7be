package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// aceX is a cluster declared in the inventory: the book's cluster_labels
// and two nodes of the hosts it lists.
const aceX = `{"cluster":[{"cluster-id":"ace-x","kubernetes-version":"v1.31.4","cni":["calico","multus"],
  "label":[{"name":"env","value":"production"},{"name":"clusterRole","value":"ace"}],
  "node":[{"name":"server-1","host":"10.0.1.1","role":["etcd","controlplane","worker"],"node-label":["node-role=ace"]},
          {"name":"server-2","host":"10.0.1.2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]}]}`

// register presents a registration token as the cluster's agent does: no
// API credential, only the token.
func register(t *testing.T, s *testenv.Server, body string) (int, []byte, http.Header) {
	t.Helper()
	code, b, h, err := registerErr(s, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b, h
}

func registerErr(s *testenv.Server, body string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("POST", s.URL+"/clusters/register", strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), resp.Header, err
}

// tokenBody is an enrolment with tok and a CSR for a fresh key.
func tokenBody(tok string) string {
	b, _ := json.Marshal(map[string]string{"token": tok, "csr": freshCSR()})
	return string(b)
}

// freshCSR is a PEM CSR for a new P-256 key, as an agent makes one.
func freshCSR() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestClusterPlanAndRegistration drives `amp cluster` and the
// /clusters routes through the binary: the plan against an
// empty report and against one written through the state API; tokens
// minted, listed (no secrets) and revoked; a registration that works
// once, is refused the second time, with a revoked or an expired token;
// an unknown cluster; a tenant admin who may not mint; the audit trail;
// the registration's bounds.
func TestClusterPlanAndRegistration(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", aceX)
	env := s.Env()
	cli := func(args ...string) string {
		t.Helper()
		out, err := ampCLI(t, env, args...)
		if err != nil {
			t.Fatalf("amp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	t.Run("plan against an empty report", func(t *testing.T) {
		out := cli("cluster", "plan", "ace-x")
		for _, want := range []string{
			"cluster ace-x has not reported",
			"not registered",
			"+ create cluster ace-x: cni [calico, multus]; distribution rke2; kubernetes-version v1.31.4\n",
			"+ add label clusterRole: ace\n",
			"+ add label env: production\n",
			"+ add node server-1: host 10.0.1.1; labels [node-role=ace]; roles [controlplane, etcd, worker]\n",
			"+ add node server-2: host 10.0.1.2; roles [worker]; taints [gpu=true:NoSchedule]\n",
			"Plan: 5 to add, 0 to change, 0 to remove.\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("amp cluster plan lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("plan against a partial report", func(t *testing.T) {
		// What the edge agent will write: the cluster runs an older version,
		// one CNI, a stale label, server-1 only and a node no longer declared.
		s.Must(t, 204, "PUT", "/state/inventory/v1.0.0/cluster/ace-x/report", `{"reported-at":"2026-12-07T06:00:00Z",
		  "distribution":"rke2","kubernetes-version":"v1.30.2","cni":["calico"],
		  "label":[{"name":"env","value":"staging"},{"name":"old","value":"x"}],
		  "node":[{"name":"server-1","role":["worker","controlplane","etcd"],"node-label":["node-role=ace"]},{"name":"server-9","role":["worker"]}]}`)
		// The report reads back with the cluster, as operational state.
		var c map[string]any
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/ace-x", ""), &c)
		if rep, _ := c["report"].(map[string]any); rep["kubernetes-version"] != "v1.30.2" {
			t.Fatalf("the report does not read back with the cluster: %v", c)
		}
		out := cli("cluster", "plan", "ace-x", "-o", "json")
		var p struct {
			Reported   bool              `json:"reported"`
			ReportedAt string            `json:"reported-at"`
			Steps      []json.RawMessage `json:"steps"`
			Summary    map[string]int    `json:"summary"`
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var steps []string
		for _, st := range p.Steps {
			var b bytes.Buffer
			if err := json.Compact(&b, st); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, b.String())
		}
		want := []string{
			`{"action":"change","object":"kubernetes-version","from":"v1.30.2","to":"v1.31.4"}`,
			`{"action":"change","object":"cni","from":["calico"],"to":["calico","multus"]}`,
			`{"action":"add","object":"label","name":"clusterRole","to":"ace"}`,
			`{"action":"change","object":"label","name":"env","from":"staging","to":"production"}`,
			`{"action":"remove","object":"label","name":"old","from":"x"}`,
			`{"action":"add","object":"node","name":"server-2","to":{"host":"10.0.1.2","roles":["worker"],"taints":["gpu=true:NoSchedule"]}}`,
			`{"action":"remove","object":"node","name":"server-9","from":{"roles":["worker"]}}`,
		}
		if !p.Reported || p.ReportedAt != "2026-12-07T06:00:00Z" || strings.Join(steps, "\n") != strings.Join(want, "\n") ||
			p.Summary["add"] != 2 || p.Summary["change"] != 3 || p.Summary["remove"] != 2 {
			t.Fatalf("plan:\n%s", out)
		}
		text := cli("cluster", "plan", "ace-x")
		for _, w := range []string{"~ change label env: staging -> production\n", "- remove node server-9 (was roles [worker])\n", "Plan: 2 to add, 3 to change, 2 to remove.\n"} {
			if !strings.Contains(text, w) {
				t.Errorf("amp cluster plan lacks %q:\n%s", w, text)
			}
		}
		// The report is the agent's free text: the plan prints it terminal-safe.
		s.Must(t, 204, "PATCH", "/state/inventory/v1.0.0/cluster/ace-x/report", `{"label":[{"name":"old","value":"\u001b]0;owned\u0007\u001b[2J"}]}`)
		if text := cli("cluster", "plan", "ace-x"); strings.ContainsAny(text, "\x1b\x07") || !strings.Contains(text, "- remove label old") {
			t.Fatalf("the plan passes the report's control characters to the terminal: %q", text)
		}
	})

	t.Run("unknown cluster", func(t *testing.T) {
		out, err := ampCLI(t, env, "cluster", "plan", "nope")
		if err == nil || !strings.Contains(out, "/inventory/v1.0.0/cluster/nope") || !strings.Contains(out, `no cluster "nope" is declared`) {
			t.Fatalf("plan of an unknown cluster: %v\n%s", err, out)
		}
		s.Must(t, 404, "POST", "/clusters/nope/tokens", `{}`)
		s.Must(t, 404, "GET", "/clusters/nope/tokens", "")
	})

	t.Run("tokens", func(t *testing.T) {
		var minted struct {
			ID       string `json:"id"`
			Token    string `json:"token"`
			MintedBy string `json:"minted-by"`
		}
		b := s.Must(t, 201, "POST", "/clusters/ace-x/tokens", `{"ttl":"1h"}`)
		if err := json.Unmarshal(b, &minted); err != nil || !strings.HasPrefix(minted.Token, "ampreg_"+minted.ID+"_") {
			t.Fatalf("mint: %v %s", err, b)
		}
		secret := cli("cluster", "token", "ace-x", "--ttl", "30m")
		secret = strings.TrimSpace(strings.SplitN(secret, "\n", 2)[0])
		if !strings.HasPrefix(secret, "ampreg_") {
			t.Fatalf("amp cluster token printed %q", secret)
		}
		list := cli("cluster", "tokens", "ace-x", "-o", "json")
		var toks []map[string]any
		if err := json.Unmarshal([]byte(list), &toks); err != nil || len(toks) != 2 {
			t.Fatalf("tokens: %v %s", err, list)
		}
		for _, tk := range toks {
			if tk["token"] != nil || tk["hash"] != nil || tk["minted-by"] == "" || tk["expired"] != false {
				t.Fatalf("a listed token shows a secret or lacks its minter: %v", tk)
			}
		}
		if strings.Contains(list, strings.SplitN(secret, "_", 3)[2]) {
			t.Fatal("the listing holds a secret")
		}
		// Revoked: refused at registration.
		cli("cluster", "token", "revoke", "ace-x", minted.ID)
		if code, body, _ := register(t, s, tokenBody(minted.Token)); code != 401 || !strings.Contains(string(body), "not valid") {
			t.Fatalf("a revoked token: %d %s", code, body)
		}
		if out, err := ampCLI(t, env, "cluster", "token", "revoke", "ace-x", minted.ID); err == nil || !strings.Contains(out, "no unused token") {
			t.Fatalf("revoking twice: %v %s", err, out)
		}

		// Once: registered (through the CLI, which sends no API token),
		// recorded in the cluster's state, shown by the plan; then refused.
		csrFile := filepath.Join(t.TempDir(), "agent.csr")
		if err := os.WriteFile(csrFile, []byte(freshCSR()), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := ampCLI(t, append(env, "AMP_TOKEN=", "AMP_REGISTRATION_TOKEN="+secret), "cluster", "register", "--csr", csrFile, "--cluster", "ace-x")
		if err != nil || !strings.Contains(out, "cluster ace-x enrolled: certificate ") || !strings.Contains(out, "-----BEGIN CERTIFICATE-----") {
			t.Fatalf("register: %v %s", err, out)
		}
		if code, body, _ := register(t, s, tokenBody(secret)); code != 401 || !strings.Contains(string(body), `"path":"/token"`) {
			t.Fatalf("a second registration with one token: %d %s", code, body)
		}
		plan := cli("cluster", "plan", "ace-x", "-o", "json")
		var p struct {
			Registration map[string]string `json:"registration"`
		}
		_ = json.Unmarshal([]byte(plan), &p)
		if reg := p.Registration; reg["token-id"] != strings.Split(secret, "_")[1] || !strings.HasPrefix(reg["source"], "127.0.0.1:") || reg["minted-by"] != minted.MintedBy || reg["registered-at"] == "" {
			t.Fatalf("the plan's registration: %s", plan)
		}
		if out := cli("cluster", "tokens", "ace-x", "-o", "json"); strings.TrimSpace(out) != "[]" {
			t.Fatalf("a used token is still listed: %s", out)
		}

		// Expired: wait on the server's own answer (the listing marks it),
		// then register.
		short := strings.TrimSpace(strings.SplitN(cli("cluster", "token", "ace-x", "--ttl", "1s"), "\n", 2)[0])
		deadline := time.Now().Add(30 * time.Second)
		for {
			var l []map[string]any
			_ = json.Unmarshal(s.Must(t, 200, "GET", "/clusters/ace-x/tokens", ""), &l)
			if len(l) == 1 && l[0]["expired"] == true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the 1s token is not listed as expired after 30s: %v", l)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code, body, _ := register(t, s, tokenBody(short)); code != 401 || !strings.Contains(string(body), "expired") {
			t.Fatalf("an expired token: %d %s", code, body)
		}
		if out := cli("cluster", "tokens", "ace-x"); !strings.Contains(out, "expired") {
			t.Fatalf("the table does not show the expired token: %s", out)
		}

		// Bad input names the field.
		for body, field := range map[string]string{`{"ttl":"forever"}`: "/ttl", `{"ttl":"0s"}`: "/ttl", `{"lifetime":"1h"}`: "/lifetime"} {
			b := s.Must(t, 400, "POST", "/clusters/ace-x/tokens", body)
			if !strings.Contains(string(b), `"path":"`+field+`"`) {
				t.Errorf("%s: %s", body, b)
			}
		}
	})

	t.Run("a tenant admin cannot mint", func(t *testing.T) {
		// A cluster at a site of acme's: acme's admin reads the site, but a
		// cluster's tokens and plan are the operator's.
		s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"organization":[{"org-id":"acme","tenant":"acme"}],
		  "site":[{"site-id":"chicago","organization":"acme","tenant":"acme"}],
		  "cluster":[{"cluster-id":"acme-edge","site":"chicago","node":[{"name":"n1","host":"10.0.2.1","role":["worker"]}]}]}`)
		acme, _ := apiToken(t, s, "acme-boss", "enterprise-admin", "acme")
		if code, b, _, err := s.Do(context.Background(), "GET", "/inventory/v1.0.0/site/chicago", "", "Authorization", "Bearer "+acme); err != nil || code != 200 {
			t.Fatalf("acme's admin reading acme's site: %d %v %s", code, err, b)
		}
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/clusters/acme-edge/tokens", `{}`},
			{"GET", "/clusters/acme-edge/tokens", ""},
			{"GET", "/clusters/acme-edge/plan", ""},
			{"POST", "/clusters/ace-x/tokens", `{}`},
		} {
			code, b, _, err := s.Do(context.Background(), r.method, r.path, r.body, "Authorization", "Bearer "+acme)
			if err != nil || code != 403 {
				t.Fatalf("%s %s as acme's admin: %d %v %s", r.method, r.path, code, err, b)
			}
		}
		var l []map[string]any
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/clusters/ace-x/tokens", ""), &l)
		if len(l) != 1 { // the expired one only
			t.Fatalf("a refused mint left a token: %v", l)
		}
		if b := s.Must(t, 200, "GET", "/clusters/acme-edge/tokens", ""); strings.TrimSpace(string(b)) != "[]" {
			t.Fatalf("a refused mint left a token: %s", b)
		}
	})

	t.Run("audited", func(t *testing.T) {
		var recs []map[string]any
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/audit?path="+url.QueryEscape("/clusters/"), ""), &recs)
		var mints, revokes, regs, refused int
		for _, r := range recs {
			paths, _ := r["paths"].([]any)
			switch {
			case r["method"] == "POST" && r["principal"] == "admin" && r["outcome"] == "allowed" && len(paths) == 1:
				mints++
			case r["method"] == "DELETE" && r["principal"] == "admin" && r["outcome"] == "allowed":
				revokes++
			case r["method"] == "POST" && r["principal"] == "" && r["outcome"] == "allowed":
				regs++ // the agent has no principal: its token (path) and address say who
			case r["method"] == "POST" && r["principal"] == "" && r["outcome"] == "error":
				refused++
			}
		}
		// Minted 3 (one refused for acme's admin, recorded as denied), revoked
		// 1, registered once, refused 3 (revoked, used, expired).
		if mints != 3 || revokes != 1 || regs != 1 || refused != 3 {
			t.Fatalf("audit: %d mints, %d revocations, %d registrations, %d refused registrations:\n%v", mints, revokes, regs, refused, recs)
		}
	})

	t.Run("registration bounds", func(t *testing.T) {
		if code, body, _ := register(t, s, `{"token":"`+strings.Repeat("x", 16<<10)+`"}`); code != 413 {
			t.Fatalf("a 16 kB registration: %d %s", code, body)
		}
		// Guessing tokens: refused per source once over the bound.
		limited := false
		for i := 0; i < 12 && !limited; i++ {
			code, body, h := register(t, s, tokenBody("ampreg_000000000000_guess"))
			switch {
			case code == 503 && h.Get("Retry-After") != "":
				limited = true
			case code != 401:
				t.Fatalf("guess %d: %d %s", i, code, body)
			}
		}
		if !limited {
			t.Fatal("12 registration attempts from one address within a minute were all answered")
		}
	})
}

// TestClusterRegistrationAcrossReplicas: on etcd, a token presented to
// two replicas at once registers once (the other is refused), and the
// registration recorded by one replica is what the other's plan shows.
func TestClusterRegistrationAcrossReplicas(t *testing.T) {
	c := etcd.Start(t, 1)
	reps := startReplicas(t, testenv.Binary(t), "etcd://"+c.Endpoints()+"/amp-clusters/", 2)
	a, b := reps[0], reps[1]
	_, _, hdr, err := a.Do(context.Background(), "POST", "/inventory/v1.0.0", aceX)
	if err != nil {
		t.Fatal(err)
	}
	b.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/ace-x?min-index="+hdr.Get("X-AMP-Transaction-Index"), "")
	for round := range 4 {
		var minted struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		_ = json.Unmarshal(a.Must(t, 201, "POST", "/clusters/ace-x/tokens", `{}`), &minted)
		codes := make(chan int, 2)
		for _, s := range reps {
			go func() {
				code, body, _, err := registerErr(s, tokenBody(minted.Token))
				if err != nil {
					t.Error(err)
				} else if code != 201 && code != 401 {
					t.Errorf("registration at %s: %d %s", s.URL, code, body)
				}
				codes <- code
			}()
		}
		got := []int{<-codes, <-codes}
		if !(got[0] == 201 && got[1] == 401 || got[0] == 401 && got[1] == 201) {
			t.Fatalf("round %d: one token at two replicas at once answered %v, want one 201 and one 401", round, got)
		}
		waitFor(t, func() bool {
			var p struct {
				Registration map[string]string `json:"registration"`
			}
			_ = json.Unmarshal(b.Must(t, 200, "GET", "/clusters/ace-x/plan", ""), &p)
			return p.Registration["token-id"] == minted.ID
		}, "replica b's plan to show the registration with token "+minted.ID)
	}
}
