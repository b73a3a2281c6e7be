package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/idp"
)

// TestLDAPGroupsBecomeRights: users of a real LDAP directory (slapd) log in
// through a real OIDC provider; the real binary verifies their tokens, and
// their LDAP groups become their rights over REST and gNMI, as the default
// policy says; every write and denial is in the audit trail.
func TestLDAPGroupsBecomeRights(t *testing.T) {
	p, err := idp.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID,
		"--gnmi-listen", "127.0.0.1:0")
	olivia, alice, mallory := p.Token(t, "olivia", "olivia-pw"), p.Token(t, "alice", "alice-pw"), p.Token(t, "mallory", "mallory-pw")
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	acme, sb := "/aether/v2.1.x/acme/site/acme-chicago", "/aether/v2.1.x/starbucks/site/starbucks-seattle"

	// REST: the three roles.
	s.Must(t, 200, "PATCH", sb+"/upf/upf-1", `{"port":8806}`, as(olivia)...)
	s.Must(t, 200, "PATCH", acme+"/upf/upf-1", `{"port":8807}`, as(alice)...)
	s.Must(t, 404, "GET", sb, "", as(alice)...)
	s.Must(t, 200, "GET", sb, "", as(mallory)...)
	s.Must(t, 403, "PATCH", sb+"/upf/upf-1", `{"port":1}`, as(mallory)...)
	s.Must(t, 404, "GET", acme, "", as(mallory)...)
	var ents []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/enterprises", "", as(alice)...), &ents)
	if len(ents) != 1 {
		t.Fatalf("alice sees enterprises %v", ents)
	}
	// A tampered token is refused with a reason.
	code, b, _, _ := s.Do(context.Background(), "GET", acme, "", as(alice[:len(alice)-4]+"AAAA")...)
	if code != 401 || !strings.Contains(string(b), "signature") && !strings.Contains(string(b), "invalid") {
		t.Fatalf("tampered token: %d %s", code, b)
	}

	// gNMI: the same rights from the same tokens.
	conn, err := grpc.NewClient(s.GNMIAddr(t), s.GNMIDialOption(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := gpb.NewGNMIClient(conn)
	get := func(tok, target, path string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
		_, err := c.Get(ctx, &gpb.GetRequest{Prefix: &gpb.Path{Origin: "aether", Target: target},
			Path: []*gpb.Path{{Elem: []*gpb.PathElem{{Name: "site"}}}}, Encoding: gpb.Encoding_JSON_IETF})
		return err
	}
	if err := get(alice, "acme", ""); err != nil {
		t.Fatalf("alice gNMI Get acme: %v", err)
	}
	if err := get(alice, "starbucks", ""); status.Code(err) != codes.NotFound {
		t.Fatalf("alice gNMI Get starbucks: %v (want NotFound)", err)
	}
	// Subscribe to another enterprise: as absent as Get says.
	sctx, scancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+alice), 10*time.Second)
	defer scancel()
	st, err := c.Subscribe(sctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: &gpb.Path{Origin: "aether", Target: "starbucks"}, Mode: gpb.SubscriptionList_ONCE,
		Subscription: []*gpb.Subscription{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site"}}}}}}}})
	if _, err := st.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("alice subscribing to starbucks: %v (want NotFound)", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+mallory)
	_, err = c.Set(ctx, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "aether", Target: "starbucks"}, Update: []*gpb.Update{{
		Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "starbucks-seattle"}}, {Name: "display-name"}}},
		Val:  &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "x"}}}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("mallory gNMI Set: %v (want PermissionDenied)", err)
	}

	// CLI: the same rights, with the OIDC token in AMP_TOKEN.
	cli := func(tok string, args ...string) (string, int) {
		cmd := exec.Command(testenv.Binary(t), args...)
		cmd.Env = append(s.Env(), "AMP_TOKEN="+tok)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := cli(alice, "get", "-e", "acme", "site/acme-chicago/upf/upf-1/port"); code != 0 {
		t.Fatalf("alice amp get: %d %s", code, out)
	}
	if out, code := cli(alice, "get", "-e", "starbucks", "site"); code != 1 || !strings.Contains(out, "does not exist") {
		t.Fatalf("alice amp get starbucks: %d %s", code, out)
	}
	if out, code := cli(mallory, "set", "-e", "starbucks", "site/starbucks-seattle/upf/upf-1/port=9"); code != 1 || !strings.Contains(out, "forbidden") {
		t.Fatalf("mallory amp set: %d %s", code, out)
	}
	if out, code := cli(olivia, "audit", "--principal", "mallory", "-o", "json"); code != 0 || !strings.Contains(out, `"denied"`) {
		t.Fatalf("olivia amp audit: %d %s", code, out)
	}

	// amp login: the CLI gets alice's token from the provider itself (the
	// test plays the browser), stores it, and later commands use it.
	cfgDir := t.TempDir()
	login := exec.Command(testenv.Binary(t), "login", "--issuer", p.Issuer, "--client-id", p.ClientID, "--no-browser")
	login.Env = append(s.Env(), "XDG_CONFIG_HOME="+cfgDir, "AMP_TOKEN=")
	stderr, _ := login.StderrPipe()
	var stdout strings.Builder
	login.Stdout = &stdout
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	authURL := ""
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "http") {
			authURL = line
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = browser.PostForm(resp.Request.URL.String()+"/login", url.Values{"username": {"alice"}, "password": {"alice-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := login.Wait(); err != nil || !strings.Contains(string(page), "close this page") {
		t.Fatalf("amp login: %v; stdout %s; last page %.200s", err, stdout.String(), page)
	}
	if fi, err := os.Stat(filepath.Join(cfgDir, "amp", "login.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored token: %v %v", fi, err)
	}
	after := exec.Command(testenv.Binary(t), "get", "-e", "starbucks", "site")
	after.Env = append(s.Env(), "XDG_CONFIG_HOME="+cfgDir, "AMP_TOKEN=")
	if out, err := after.CombinedOutput(); err == nil || !strings.Contains(string(out), "does not exist") {
		t.Fatalf("amp get as the logged-in alice: %v %s", err, out)
	}

	// The audit trail holds each write and each denial, by identity.
	var recs []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/audit?limit=1000", "", as(olivia)...), &recs)
	seen := map[string]int{}
	for _, r := range recs {
		seen[r["principal"].(string)+"/"+r["interface"].(string)+"/"+r["outcome"].(string)]++
	}
	for _, want := range []string{"olivia/rest/allowed", "alice/rest/allowed", "alice/rest/denied", "mallory/rest/denied", "mallory/gnmi/denied", "alice/gnmi/denied"} {
		if seen[want] == 0 {
			t.Errorf("no audit record %s in %v", want, seen)
		}
	}
	if strings.Contains(string(s.Must(t, 200, "GET", "/audit?limit=1000", "", as(olivia)...)), alice[:40]) {
		t.Fatal("a token is in the audit trail")
	}
}

// TestExpiredJWTEndsStreams (issue 8, medium 8): an OIDC token that expires
// while its /watch and gNMI Subscribe streams are open ends both at their
// next event; nothing after the expiry reaches the holder.
func TestExpiredJWTEndsStreams(t *testing.T) {
	p, err := idp.Run(context.Background(), idp.Options{Dir: t.TempDir(), IDTokenTTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID,
		"--gnmi-listen", "127.0.0.1:0")
	alice := p.Token(t, "alice", "alice-pw") // admin of acme, for 4 s
	issued := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/watch", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := s.HTTPClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)

	conn, err := grpc.NewClient(s.GNMIAddr(t), s.GNMIDialOption(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := gpb.NewGNMIClient(conn).Subscribe(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+alice))
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: &gpb.Path{Origin: "aether", Target: "acme"}, Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site"}}}, Mode: gpb.SubscriptionMode_ON_CHANGE}}}}})
	if r, err := st.Recv(); err != nil || !r.GetSyncResponse() {
		t.Fatalf("subscribe: %v %v", r, err)
	}

	// Once the token has expired, the operator changes what both streams watch.
	time.Sleep(time.Until(issued.Add(5 * time.Second)))
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago", `{"display-name":"after expiry"}`)
	ended := false
	for !ended && lines.Scan() {
		l := lines.Text()
		if strings.Contains(l, "after expiry") {
			t.Fatalf("/watch sent an event after the token expired: %s", l)
		}
		ended = strings.Contains(l, `"error"`) // the stream's last line says why
	}
	if !ended {
		t.Fatal("/watch did not end with an error line when its token expired")
	}
	if lines.Scan() {
		t.Fatalf("/watch went on after its last line: %s", lines.Text())
	}
	for {
		r, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("gNMI stream ended with %v, want Unauthenticated", err)
			}
			break
		}
		if r.GetUpdate() != nil {
			t.Fatalf("gNMI sent an update after the token expired: %v", r)
		}
	}
}
