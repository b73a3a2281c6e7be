package e2e

// gNMI against a hostile tenant and an unauthenticated peer (issue 8:
// findings 4, 8, 9 and the gNMI low findings), through the real binary and
// a real gRPC client.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/tlsutil"
)

// gnmiConn dials the server's gNMI with its default transport (TLS trusting
// the local CA), closed when the test ends.
func gnmiConn(t *testing.T, s *testenv.Server, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.GNMIAddr(t), append([]grpc.DialOption{s.GNMIDialOption(t)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// bearer is ctx carrying tok as gNMI credentials.
func bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// apiToken creates an API token through REST and returns its secret and id.
func apiToken(t *testing.T, s *testenv.Server, name, role, ent string) (secret, id string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "role": role, "enterprise": ent})
	var tok map[string]any
	if err := json.Unmarshal(s.Must(t, 201, "POST", "/tokens", string(body)), &tok); err != nil {
		t.Fatal(err)
	}
	return tok["token"].(string), tok["id"].(string)
}

// sitesOf is a gNMI path to an enterprise's sites.
func sitesOf(target string) (*gpb.Path, *gpb.Path) {
	return &gpb.Path{Origin: "aether", Target: target}, &gpb.Path{Elem: []*gpb.PathElem{{Name: "site"}}}
}

// subscribeStream opens an ON_CHANGE subscription to target's sites and
// reads up to its sync_response.
func subscribeStream(t *testing.T, ctx context.Context, c gpb.GNMIClient, target string) gpb.GNMI_SubscribeClient {
	t.Helper()
	st, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix, p := sitesOf(target)
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: prefix, Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{{Path: p, Mode: gpb.SubscriptionMode_ON_CHANGE}}}}}); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("subscription to %s before its sync: %v", target, err)
		}
		if r.GetSyncResponse() {
			return st
		}
	}
}

// rename changes acme-chicago's display name through REST (as the admin).
func rename(t *testing.T, s *testenv.Server, name string) {
	t.Helper()
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago", `{"display-name":"`+name+`"}`)
}

// streamEnd reads st until it ends and returns the error it ended with,
// failing if an update arrives first.
func streamEnd(t *testing.T, st gpb.GNMI_SubscribeClient) error {
	t.Helper()
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		if r.GetUpdate() != nil {
			t.Fatalf("the stream sent an update after the caller lost the right to it: %v", r)
		}
	}
}

// TestGNMIAuthenticatesBeforeReading: a call without credentials is refused
// on its headers alone, before the server reads (and buffers) its request
// message; on the old server it waited for the message. Connections over
// the per-source limit are closed at accept, idle ones after
// --gnmi-idle-timeout, and the refusals are counted.
func TestGNMIAuthenticatesBeforeReading(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0",
		"--gnmi-max-conns-per-source", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A Set whose request message is never sent: only its headers.
	conn := gnmiConn(t, s)
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/gnmi.gNMI/Set")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(gpb.SetResponse)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a Set without credentials and without its message: %v (want Unauthenticated before the message is read)", err)
	}
	// With a token the same call is read and answered.
	if _, err := gpb.NewGNMIClient(conn).Capabilities(bearer(ctx, s.Token), &gpb.CapabilityRequest{}); err != nil {
		t.Fatalf("Capabilities with the admin token: %v", err)
	}

	// Two connections from 127.0.0.1 are served; a third is closed at accept.
	second := gnmiConn(t, s)
	if _, err := gpb.NewGNMIClient(second).Capabilities(bearer(ctx, s.Token), &gpb.CapabilityRequest{}); err != nil {
		t.Fatalf("a second connection: %v", err)
	}
	third := gnmiConn(t, s)
	if _, err := gpb.NewGNMIClient(third).Capabilities(bearer(ctx, s.Token), &gpb.CapabilityRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a third connection from one source: %v (want Unavailable: closed at accept)", err)
	}
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{`amp_gnmi_refused_total{reason="unauthenticated"} 1`, `amp_gnmi_refused_total{reason="connections_per_source"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	s.Stop()

	// A client speaking HTTP/2 itself: the server announces the stream limit
	// and answers a ping flood with GOAWAY too_many_pings (keepalive
	// enforcement); an idle connection is closed (GOAWAY after 1 s idle).
	s = testenv.Start(t, t.TempDir(), "--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--gnmi-idle-timeout", "1s",
		"--gnmi-max-streams-per-conn", "7")
	rawH2PingFlood(t, s, 7)
	idle := gnmiConn(t, s)
	if _, err := gpb.NewGNMIClient(idle).Capabilities(bearer(ctx, s.Token), &gpb.CapabilityRequest{}); err != nil {
		t.Fatal(err)
	}
	for st := idle.GetState(); st == connectivity.Ready; st = idle.GetState() {
		if !idle.WaitForStateChange(ctx, st) {
			t.Fatal("the idle connection stayed open")
		}
	}
}

// rawH2PingFlood opens an HTTP/2 connection to gNMI, checks the server's
// SETTINGS announce maxStreams concurrent streams, then sends pings without
// any call until the server sends GOAWAY ENHANCE_YOUR_CALM.
func rawH2PingFlood(t *testing.T, s *testenv.Server, maxStreams uint32) {
	t.Helper()
	cfg, err := tlsutil.ClientConfig(s.CA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", s.GNMIAddr(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound for a broken server, not a measurement
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	announced := false
	for pings := 0; ; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d pings, before GOAWAY: %v", pings, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				break
			}
			v, ok := f.Value(http2.SettingMaxConcurrentStreams)
			if !ok || v != maxStreams {
				t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS %d (announced %v), want %d", v, ok, maxStreams)
			}
			announced = true
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			for ; pings < 5; pings++ {
				if err := fr.WritePing(false, [8]byte{byte(pings)}); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.GoAwayFrame:
			if !announced || f.ErrCode != http2.ErrCodeEnhanceYourCalm || !strings.Contains(string(f.DebugData()), "too_many_pings") {
				t.Fatalf("GOAWAY %v %q (settings seen: %v), want ENHANCE_YOUR_CALM too_many_pings", f.ErrCode, f.DebugData(), announced)
			}
			return
		}
	}
}

// rawCodec sends a pre-marshalled request as is, so that many concurrent
// large requests cost the client one shared buffer.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }
func (rawCodec) Name() string                         { return "proto" }

// serverRSS reads the server's resident set size from its /metrics.
func serverRSS(t testing.TB, s *testenv.Server) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^process_resident_memory_bytes (\S+)$`).FindStringSubmatch(string(s.Must(t, 200, "GET", "/metrics", "")))
	if m == nil {
		t.Fatal("no process_resident_memory_bytes in /metrics")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sampleEvery calls sample every period, in a goroutine counted in wg,
// until stop is closed.
func sampleEvery(wg *sync.WaitGroup, stop <-chan struct{}, period time.Duration, sample func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			sample()
		}
	}()
}

// TestGNMIUnauthenticatedSetFlood: 150 concurrent unauthenticated Sets, each
// with a 15 MiB message, on 150 connections (the connection limits raised
// so that every call reaches authentication): all are refused and the
// server's RSS grows by at most 100 MiB over its idle RSS measured in the
// same run (the old server read every message first: 1.46 → 7.3 GiB).
func TestGNMIUnauthenticatedSetFlood(t *testing.T) {
	const calls, size = 150, 15 << 20
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0",
		"--gnmi-max-conns", "1000", "--gnmi-max-conns-per-source", "1000")
	big, err := proto.Marshal(&gpb.SetRequest{Prefix: &gpb.Path{Target: "acme"}, Update: []*gpb.Update{{
		Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "acme-chicago"}}, {Name: "display-name"}}},
		Val:  &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`"` + strings.Repeat("x", size) + `"`)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := gpb.NewGNMIClient(gnmiConn(t, s)).Capabilities(bearer(ctx, s.Token), &gpb.CapabilityRequest{}); err != nil {
		t.Fatal(err)
	}
	idle := serverRSS(t, s)

	var peakMu sync.Mutex
	peak := idle
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampleEvery(&sampler, stop, 20*time.Millisecond, func() {
		if v := serverRSS(t, s); v > peak {
			peakMu.Lock()
			peak = v
			peakMu.Unlock()
		}
	})
	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, calls)
	for i := 0; i < calls; i++ {
		conn := gnmiConn(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := conn.Invoke(ctx, "/gnmi.gNMI/Set", &big, new([]byte), grpc.ForceCodecV2(rawCodec{}))
			codesSeen <- status.Code(err)
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(codesSeen)
	for c := range codesSeen {
		if c != codes.Unauthenticated {
			t.Fatalf("an unauthenticated Set ended with %v, want Unauthenticated", c)
		}
	}
	after := serverRSS(t, s)
	peakMu.Lock()
	growth := (max(peak, after) - idle) / (1 << 20)
	peakMu.Unlock()
	t.Logf("%d unauthenticated Sets of %d MiB: server RSS idle %.1f MiB, peak %.1f MiB (growth %.1f MiB), after %.1f MiB",
		calls, size>>20, idle/(1<<20), idle/(1<<20)+growth, growth, after/(1<<20))
	if growth > 100 {
		t.Fatalf("server RSS grew by %.1f MiB under unauthenticated Sets (bound: 100 MiB)", growth)
	}
}

// TestGNMIStreamsEndWhenRightsGo: an open Subscribe stream ends with
// Unauthenticated when its token is revoked, and with PermissionDenied
// when a policy reload takes the right away, before it sends the next
// event; one principal's open subscriptions are capped.
func TestGNMIStreamsEndWhenRightsGo(t *testing.T) {
	polDir := t.TempDir()
	authz, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "policy", "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	polFile := filepath.Join(polDir, "authz.rego")
	if err := os.WriteFile(polFile, authz, 0o600); err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0",
		"--policy-dir", polDir, "--gnmi-max-subscriptions-per-principal", "2")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := gpb.NewGNMIClient(gnmiConn(t, s))

	// A revoked token: the next change ends the stream, unsent.
	tok, id := apiToken(t, s, "watcher", "enterprise-member", "acme")
	st := subscribeStream(t, bearer(ctx, tok), c, "acme")
	s.Must(t, 200, "DELETE", "/tokens/"+id, "")
	rename(t, s, "after revocation")
	if err := streamEnd(t, st); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a revoked token's stream ended with %v, want Unauthenticated", err)
	}

	// The policy stops letting anyone read acme: the next change ends the
	// stream with PermissionDenied.
	tok2, _ := apiToken(t, s, "reader", "enterprise-member", "acme")
	st = subscribeStream(t, bearer(ctx, tok2), c, "acme")
	closed := append(authz, []byte("\ndeny contains \"acme is closed for reading\" if {\n\tinput.action == \"read\"\n\tinput.enterprise == \"acme\"\n}\n")...)
	if err := os.WriteFile(polFile, closed, 0o600); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(s.Log(), `"policy reloaded"`) {
		select {
		case <-ctx.Done():
			t.Fatalf("the policy was not reloaded:\n%s", s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	rename(t, s, "after the policy change")
	if err := streamEnd(t, st); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a stream whose right was withdrawn ended with %v, want PermissionDenied", err)
	}

	// At most two open subscriptions per principal (the admin here).
	admin := bearer(ctx, s.Token)
	subscribeStream(t, admin, c, "starbucks")
	subscribeStream(t, admin, c, "starbucks")
	third, err := c.Subscribe(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a third subscription of one principal: %v, want ResourceExhausted", err)
	}
}

// TestGNMITenantCannotProbeEnterprises: to a tenant, an enterprise that does
// not exist and another tenant's give the same answer in Get and Subscribe
// (authorization runs first); a cross-tenant Set is audited as denied.
func TestGNMITenantCannotProbeEnterprises(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := gpb.NewGNMIClient(gnmiConn(t, s))
	tok, _ := apiToken(t, s, "acme-ops", "enterprise-admin", "acme")
	as := bearer(ctx, tok)

	answer := func(err error, ent string) string {
		st := status.Convert(err)
		return st.Code().String() + ": " + strings.ReplaceAll(st.Message(), ent, "ENT")
	}
	get := func(ent string) string {
		prefix, p := sitesOf(ent)
		_, err := c.Get(as, &gpb.GetRequest{Prefix: prefix, Path: []*gpb.Path{p}, Encoding: gpb.Encoding_JSON_IETF})
		return answer(err, ent)
	}
	sub := func(ent string) string {
		st, err := c.Subscribe(as)
		if err != nil {
			t.Fatal(err)
		}
		prefix, p := sitesOf(ent)
		st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
			Prefix: prefix, Mode: gpb.SubscriptionList_ONCE, Subscription: []*gpb.Subscription{{Path: p}}}}})
		_, err = st.Recv()
		return answer(err, ent)
	}
	for name, call := range map[string]func(string) string{"Get": get, "Subscribe": sub} {
		other, absent := call("starbucks"), call("no-such-enterprise")
		if !strings.HasPrefix(other, "NotFound") || other != absent {
			t.Errorf("%s: another tenant's enterprise answers %q, an absent one %q: want one NotFound answer", name, other, absent)
		}
	}

	// A write into another tenant is refused and audited as denied.
	_, err := c.Set(as, &gpb.SetRequest{Prefix: &gpb.Path{Origin: "aether", Target: "starbucks"}, Update: []*gpb.Update{{
		Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "starbucks-seattle"}}, {Name: "display-name"}}},
		Val:  &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "taken"}}}}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("a Set into another tenant: %v (want NotFound, as for an absent enterprise)", err)
	}
	var recs []map[string]any
	found := false
	for !found {
		json.Unmarshal(s.Must(t, 200, "GET", "/audit?limit=1000", ""), &recs)
		for _, r := range recs {
			if r["principal"] == "acme-ops@api" && r["interface"] == "gnmi" && r["method"] == "Set" {
				if r["outcome"] != "denied" {
					t.Fatalf("the cross-tenant Set is audited as %v, want denied: %v", r["outcome"], r)
				}
				found = true
			}
		}
		if !found {
			select {
			case <-ctx.Done():
				t.Fatalf("no audit record of the cross-tenant Set in %v", recs)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// TestGNMIAnonymousHasNoRightsByDefault: with --gnmi-insecure-no-auth,
// "anonymous" may list Capabilities but neither read nor write, until the
// operator names its groups with --gnmi-anonymous-groups.
func TestGNMIAnonymousHasNoRightsByDefault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix, p := sitesOf("acme")
	get := &gpb.GetRequest{Prefix: prefix, Path: []*gpb.Path{p}, Encoding: gpb.Encoding_JSON_IETF}
	set := &gpb.SetRequest{Prefix: prefix, Update: []*gpb.Update{{
		Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "acme-chicago"}}, {Name: "display-name"}}},
		Val:  &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "anonymous was here"}}}}}

	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth")
	c := gpb.NewGNMIClient(gnmiConn(t, s))
	if _, err := c.Capabilities(ctx, &gpb.CapabilityRequest{}); err != nil {
		t.Fatalf("anonymous Capabilities: %v", err)
	}
	if _, err := c.Get(ctx, get); status.Code(err) != codes.NotFound {
		t.Fatalf("anonymous Get: %v, want NotFound (no rights)", err)
	}
	if _, err := c.Set(ctx, set); err == nil {
		t.Fatal("anonymous Set was accepted")
	}
	s.Stop()

	s = testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth",
		"--gnmi-anonymous-groups", "acme")
	c = gpb.NewGNMIClient(gnmiConn(t, s))
	if _, err := c.Get(ctx, get); err != nil {
		t.Fatalf("anonymous Get with --gnmi-anonymous-groups acme: %v", err)
	}
	if _, err := c.Set(ctx, set); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("anonymous Set as a member of acme: %v, want PermissionDenied", err)
	}
	s.Stop()

	// Groups for anonymous without anonymous calls are a mistake, said so.
	out, err := exec.CommandContext(ctx, testenv.Binary(t), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--gnmi-anonymous-groups", "acme").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--gnmi-anonymous-groups needs --gnmi-insecure-no-auth") {
		t.Fatalf("amp serve --gnmi-anonymous-groups without --gnmi-insecure-no-auth: %v\n%s", err, out)
	}
}

// TestGNMIRestClientCAIsNoIdentity: a client certificate signed by
// --tls-client-ca (REST mutual TLS, on top of tokens) does not authenticate
// a gNMI caller; only --gnmi-tls-client-ca makes certificates identities.
func TestGNMIRestClientCAIsNoIdentity(t *testing.T) {
	pki := testenv.NewPKI(t)
	crt, key := pki.Issue(t, "amp-server", true)
	opCrt, opKey := pki.Issue(t, "ops", false, "AetherROCAdmin")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	get := func(s *testenv.Server) error {
		cfg, err := tlsutil.ClientConfig(pki.CA, opCrt, opKey)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(s.GNMIAddr(t), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		prefix, p := sitesOf("acme")
		_, err = gpb.NewGNMIClient(conn).Get(ctx, &gpb.GetRequest{Prefix: prefix, Path: []*gpb.Path{p}, Encoding: gpb.Encoding_JSON_IETF})
		return err
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--tls-cert", crt, "--tls-key", key,
		"--tls-client-ca", pki.CA, "--gnmi-listen", "127.0.0.1:0")
	if err := get(s); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gNMI with a certificate of --tls-client-ca: %v, want Unauthenticated", err)
	}
	s.Stop()
	s = testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--tls-cert", crt, "--tls-key", key,
		"--gnmi-tls-client-ca", pki.CA, "--gnmi-listen", "127.0.0.1:0")
	if err := get(s); err != nil {
		t.Fatalf("gNMI with a certificate of --gnmi-tls-client-ca: %v", err)
	}
}
