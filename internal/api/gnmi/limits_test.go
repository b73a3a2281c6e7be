package gnmi

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/policy"
	"github.com/amp-edge/amp/internal/schema"
)

// openStream subscribes ON_CHANGE to acme's sites (updates only) and reads
// the sync response.
func openStream(t *testing.T, e *env) gpb.GNMI_SubscribeClient {
	t.Helper()
	st, err := e.c.Subscribe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
		Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{{Path: p("site"), Mode: gpb.SubscriptionMode_ON_CHANGE}}}}}); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Recv(); err != nil || !r.GetSyncResponse() {
		t.Fatalf("sync: %v %v", r, err)
	}
	return st
}

// TestSubscriptionsPerPrincipal: a principal's streams beyond the limit are
// refused before their request is read; an ended stream frees its slot.
func TestSubscriptionsPerPrincipal(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxSubscriptionsPerPrincipal = 1 })
	first := openStream(t, e)
	st, err := e.c.Subscribe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--gnmi-max-subscriptions-per-principal") {
		t.Fatalf("second stream: %v, want ResourceExhausted naming the flag", err)
	}
	first.CloseSend()
	for {
		if _, err := first.Recv(); err != nil {
			break
		}
	}
	// The slot is released when the handler returns: retry until it is.
	for {
		st, err := e.c.Subscribe(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
			Prefix: target("acme"), Mode: gpb.SubscriptionList_ONCE, Subscription: []*gpb.Subscription{{Path: p("site")}}}}})
		_, err = st.Recv()
		if err == nil {
			return
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("after the first stream ended: %v", err)
		}
	}
}

// TestRevokedTokenEndsStream: the change after a revocation is not sent;
// the stream ends with Unauthenticated.
func TestRevokedTokenEndsStream(t *testing.T) {
	e := newEnv(t, nil)
	st := openStream(t, e)
	writerTok, _, err := e.tokens.Create("w", "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	writer := e.client(grpc.WithPerRPCCredentials(bearer(writerTok)))
	revokeAlice(t, e)
	if _, err := writer.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{
		Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`"after revocation"`)}}}); err != nil {
		t.Fatal(err)
	}
	endsUnauthenticated(t, st)
}

// TestRevokedTokenEndsQuietStream: a stream that has nothing to send ends
// too once its token is revoked (the idle re-check).
func TestRevokedTokenEndsQuietStream(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleRecheck = 50 * time.Millisecond })
	st := openStream(t, e)
	revokeAlice(t, e)
	endsUnauthenticated(t, st)
}

// revokeAlice revokes the token the env's streams are opened with.
func revokeAlice(t *testing.T, e *env) {
	t.Helper()
	toks, err := e.tokens.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Principal == "alice" {
			if ok, err := e.tokens.Revoke(tok.ID); !ok || err != nil {
				t.Fatalf("revoke: %v %v", ok, err)
			}
		}
	}
}

// endsUnauthenticated reads st to its end: no update may arrive, and the
// end must be Unauthenticated.
func endsUnauthenticated(t *testing.T, st gpb.GNMI_SubscribeClient) {
	t.Helper()
	for {
		r, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream ended with %v, want Unauthenticated", err)
			}
			return
		}
		if r.GetUpdate() != nil {
			t.Fatalf("an update reached a revoked token: %v", r)
		}
	}
}

// BenchmarkRecheck: what a stream adds to each event to re-check its
// caller (an API token through the token store's cache) and its right (the
// default policy, through its decision cache), against the change of the
// event itself: turning one committed transaction into notifications, in
// the same run.
func BenchmarkRecheck(b *testing.B) {
	eng, tokens := engine(b)
	tok, _, err := tokens.Create("t", "ops", []auth.Right{{Role: auth.RoleEnterpriseMember, Enterprise: "acme"}})
	if err != nil {
		b.Fatal(err)
	}
	pol, err := policy.Default()
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(eng, Options{Auth: &auth.GRPCAuth{Tokens: tokens}, Authorizer: pol, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	c := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
	who, err := s.opts.Auth.AuthenticateGRPC(c)
	if err != nil {
		b.Fatal(err)
	}
	c = auth.WithPrincipal(c, who)
	ps, err := s.parsePath(target("acme"), p("site"), nil, forRead)
	if err != nil {
		b.Fatal(err)
	}
	loc, _ := ps.loc("acme")
	sn := &subscription{s: s, ctx: c, subs: []*sub{{ps: ps, rest: loc.REST()}}, allowed: map[string]bool{},
		credOK: s.opts.Auth.(credentialChecker).CredentialCheck(c)}
	w, err := eng.Watch(context.Background(), eng.Snapshot().Index)
	if err != nil {
		b.Fatal(err)
	}
	sl, _ := schema.Resolve(ps.set, "acme", []string{"site", "acme-chicago", "display-name"})
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Loc: sl, Op: config.OpMerge, Value: "renamed"}}, Principal: "bench"}); err != nil {
		b.Fatal(err)
	}
	rec := <-w.C
	b.Run("event", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if len(sn.changes(rec, sn.subs)) == 0 {
				b.Fatal("no notification")
			}
		}
	})
	b.Run("recheck", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := sn.recheck(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
