package rest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// bulkBody is a PATCH /aether-roc-api body of n SIM cards (~60 bytes each).
func bulkBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"s1","sim-card":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sim-id":"sim-%d","imsi":"315010001%06d"}`, i, i)
	}
	b.WriteString(`]}]}}`)
	return b.String()
}

func bodyRequest(lm *limiter, body string) *http.Request {
	r := httptest.NewRequest("PATCH", "/aether-roc-api", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if _, err := lm.admitBody(httptest.NewRecorder(), r, route{name: "aether-roc-api"}); err != nil {
		panic(err)
	}
	return r
}

func TestJSONBodyLimits(t *testing.T) {
	lm := newLimiter(Limits{MaxElements: 100, MaxDepth: 4}, nil)
	for _, c := range []struct {
		name, body string
		kind       schema.Kind
		reason     string
	}{
		{"ok", `{"a":[1,2,{"b":"ü,{[\"}"}]}`, 0, ""},
		{"elements", `[` + strings.Repeat(`1,`, 200) + `1]`, schema.KindTooLarge, "more than 100 JSON values"},
		{"depth", `[[[[[1]]]]]`, schema.KindInvalid, "deeper than 4 levels"},
		{"brackets in strings do not count", `["[[[[[[", "{{{{{{{"]`, 0, ""},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", schema.KindInvalid, "not valid UTF-8"},
		{"truncated rune at the end", "\"\xe2\x82", schema.KindInvalid, "not valid UTF-8"},
		{"empty", ` `, schema.KindInvalid, "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readJSON(bodyRequest(lm, c.body))
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if schema.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("got %v (kind %v), want kind %v naming %q", err, schema.KindOf(err), c.kind, c.reason)
			}
		})
	}
}

// oneByteReader hands out one byte per Read, so that every multi-byte rune
// is split across reads.
type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

func TestJSONBodyRunesAcrossReads(t *testing.T) {
	lm := newLimiter(Limits{}, nil)
	for _, body := range []string{`"日本語 ü € 𝄞"`, "\"ok\xe2\x82\"", "\"\xf0\x9d\x84\""} {
		jb := &jsonBody{src: io.NopCloser(&oneByteReader{body}), lm: lm}
		_, err := io.ReadAll(jb)
		if valid := utf8.ValidString(body); (err == nil) != valid {
			t.Errorf("%q: valid %v, read error %v", body, valid, err)
		}
	}
}

// readJSONBuffered is the body path before issue 8: the whole body into a
// strings.Builder, then decoded. Kept here as the benchmark's baseline.
func readJSONBuffered(r *http.Request) (any, error) {
	var buf strings.Builder
	if _, err := io.Copy(&buf, http.MaxBytesReader(nil, r.Body, 64<<20)); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(buf.String()))
	dec.UseNumber()
	var v any
	return v, dec.Decode(&v)
}

// BenchmarkBodyDecode measures bytes allocated per body byte for a 1 MB
// bulk body, decoded the old way and the new way, and for a body over
// the element limit, which the old path decoded whole and the new one
// refuses while reading (metric alloc-bytes/body-byte; the "buffered"
// cases are the same-run baseline).
func BenchmarkBodyDecode(b *testing.B) {
	body := bulkBody(16000)
	lm := newLimiter(Limits{}, nil)
	tight := newLimiter(Limits{MaxElements: 10000}, nil)
	for _, c := range []struct {
		name string
		read func() error
	}{
		{"valid/buffered", func() error {
			_, err := readJSONBuffered(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
			return err
		}},
		{"valid/streamed", func() error { _, err := readJSON(bodyRequest(lm, body)); return err }},
		{"over-element-limit/buffered", func() error {
			_, err := readJSONBuffered(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
			return err
		}},
		{"over-element-limit/streamed", func() error {
			_, err := readJSON(bodyRequest(tight, body))
			if schema.KindOf(err) != schema.KindTooLarge {
				return fmt.Errorf("want a refusal, got %v", err)
			}
			return nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if err := c.read(); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(body)), "alloc-bytes/body-byte")
		})
	}
}

// switchAuthorizer allows everything until deny is set, then refuses
// watching (/transactions) only: a policy change made while a stream is
// open, which leaves the events themselves visible.
type switchAuthorizer struct{ deny atomic.Bool }

func (a *switchAuthorizer) Authorize(_ context.Context, p *auth.Principal, _ auth.Action, res auth.Resource) error {
	if p == nil {
		return auth.ErrNoCredentials
	}
	if a.deny.Load() && res.Path == "/transactions" {
		return fmt.Errorf("%w: denied by the new policy", auth.ErrDenied)
	}
	return nil
}

// TestWatchEndsWhenRightWithdrawn: a policy change that takes the right to
// watch away ends an open stream before its next event.
func TestWatchEndsWhenRightWithdrawn(t *testing.T) {
	eng, st := testenv.Engine(t, true)
	tokens := auth.NewTokens(st)
	tok, _, err := tokens.Create("t", "tester", nil)
	if err != nil {
		t.Fatal(err)
	}
	az := &switchAuthorizer{}
	srv := httptest.NewServer(mustNew(t, Options{Engine: eng, Auth: tokens, Authorizer: az}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/watch", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	write := func(name string) {
		ed := config.Edit{Op: config.OpMerge}
		loc, err := schema.Resolve(eng.Schema().Set("aether", "2.1.x"), "acme", []string{"site", "acme-chicago"})
		if err != nil {
			t.Fatal(err)
		}
		ed.Loc = loc
		if ed.Value, err = schema.DecodeJSON(loc.Node, map[string]any{"display-name": name}, loc.REST(), true, schema.DecodeOptions{OmitKeysOK: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Submit(context.Background(), &config.Request{Principal: "tester", Edits: []config.Edit{ed}}); err != nil {
			t.Fatal(err)
		}
	}
	write("seen")
	if !lines.Scan() || !strings.Contains(lines.Text(), "seen") {
		t.Fatalf("first event: %q", lines.Text())
	}
	az.deny.Store(true)
	write("not seen")
	if !lines.Scan() || strings.Contains(lines.Text(), "not seen") || !strings.Contains(lines.Text(), "withdrawn") {
		t.Fatalf("after the right was withdrawn: %q", lines.Text())
	}
	if lines.Scan() {
		t.Fatalf("the stream went on: %q", lines.Text())
	}
}

// TestPrincipalRequestsWaitForASlot: a request over the principal's share
// waits for one of its requests to end, and is refused (429) only when
// none ends within PrincipalWait; another principal is not held up.
func TestPrincipalRequestsWaitForASlot(t *testing.T) {
	lm := newLimiter(Limits{PerPrincipal: 2, PrincipalWait: 50 * time.Millisecond}, nil)
	admit := func(p string) (func(), error) {
		return lm.admitPrincipal(httptest.NewRecorder(), httptest.NewRequest("GET", "/enterprises", nil), p, route{name: "enterprises"})
	}
	d1, err1 := admit("alice")
	d2, err2 := admit("alice")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := admit("alice"); status(err) != http.StatusTooManyRequests {
		t.Fatalf("a third request with no slot freed in time: %v", err)
	}
	if d, err := admit("bob"); err != nil {
		t.Fatalf("another principal: %v", err)
	} else {
		d()
	}
	lm.PrincipalWait = time.Minute
	got := make(chan error, 1)
	go func() {
		d, err := admit("alice")
		if err == nil {
			d()
		}
		got <- err
	}()
	d1() // frees a slot: the waiting request takes it
	if err := <-got; err != nil {
		t.Fatalf("a request waiting for a slot: %v", err)
	}
	d2()
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if len(lm.inFlight) != 0 {
		t.Fatalf("slots left behind: %v", lm.inFlight)
	}
}
