package park_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/park"
)

// server is a TLS server whose /wait requests park until the test answers
// them.
type server struct {
	*httptest.Server
	parked *park.Listener
	waits  chan *park.Conn
}

func newServer(t *testing.T) *server {
	s := &server{waits: make(chan *park.Conn, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff") // as the server's middleware sets
		pc, ok := park.Hijack(w, r)
		if !ok {
			http.Error(w, "not parked", http.StatusTeapot)
			return
		}
		s.waits <- pc
	})
	mux.HandleFunc("GET /tls", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls=%v", r.TLS != nil && r.TLS.HandshakeComplete)
	})
	s.Server = httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = false
	s.parked = park.NewListener(s.Listener.Addr())
	s.Config.BaseContext = func(net.Listener) context.Context { return s.parked.Context(context.Background()) }
	s.StartTLS()
	go func() { _ = s.Config.Serve(s.parked) }()
	t.Cleanup(s.Close)
	return s
}

func (s *server) client() *http.Client {
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = false
	return &http.Client{Transport: tr}
}

func (s *server) next(t *testing.T) *park.Conn {
	t.Helper()
	select {
	case pc := <-s.waits:
		return pc
	case <-time.After(10 * time.Second):
		t.Fatal("the request was never parked")
		return nil
	}
}

func get(t *testing.T, c *http.Client, url string, reused *bool) (*http.Response, string) {
	t.Helper()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { *reused = i.Reused }})
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A parked request is answered later, with the headers set before it
// parked, and its connection serves the client's next request, over the
// same TLS session.
func TestParkedAnswerThenNextRequest(t *testing.T) {
	s := newServer(t)
	c := s.client()
	type result struct {
		resp *http.Response
		body string
	}
	got := make(chan result, 1)
	var reused bool
	go func() {
		resp, body := get(t, c, s.URL+"/wait", &reused)
		got <- result{resp, body}
	}()
	pc := s.next(t)
	if n := s.parked.Parked(); n != 1 {
		t.Fatalf("parked %d, want 1", n)
	}
	if err := pc.Reply(func(w http.ResponseWriter) {
		w.Header().Set("ETag", `"d1"`)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"answer":1}`)
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Reply(func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot) }); err == nil {
		t.Fatal("a second reply was written")
	}
	r := <-got
	if r.resp.StatusCode != 200 || r.body != `{"answer":1}` || r.resp.Header.Get("ETag") != `"d1"` ||
		r.resp.Header.Get("X-Content-Type-Options") != "nosniff" || r.resp.Close {
		t.Fatalf("the parked answer: %d %q %v close=%v", r.resp.StatusCode, r.body, r.resp.Header, r.resp.Close)
	}
	resp, body := get(t, c, s.URL+"/tls", &reused)
	if !reused || resp.StatusCode != 200 || body != "tls=true" {
		t.Fatalf("the next request: reused=%v %d %q", reused, resp.StatusCode, body)
	}
	// A 304 has no body and keeps the connection too.
	go func() {
		resp, body := get(t, c, s.URL+"/wait", &reused)
		got <- result{resp, body}
	}()
	pc = s.next(t)
	_ = pc.Reply(func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotModified) })
	if r := <-got; r.resp.StatusCode != http.StatusNotModified || r.body != "" || !reused {
		t.Fatalf("a parked 304: %d %q reused=%v", r.resp.StatusCode, r.body, reused)
	}
	if resp, _ := get(t, c, s.URL+"/tls", &reused); !reused || resp.StatusCode != 200 {
		t.Fatalf("the request after a 304: reused=%v %d", reused, resp.StatusCode)
	}
	if n := s.parked.Parked(); n != 0 {
		t.Fatalf("parked %d after the answers", n)
	}
}

// What a parked request costs: no server goroutine (the point of it).
func TestParkedRequestsHoldNoGoroutine(t *testing.T) {
	s := newServer(t)
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reused bool
			get(t, s.client(), s.URL+"/wait", &reused)
		}()
	}
	conns := make([]*park.Conn, n)
	for i := range conns {
		conns[i] = s.next(t)
	}
	if got := serving(t); got != 0 {
		t.Fatalf("%d server connection goroutines while %d requests are parked, want 0", got, n)
	}
	for _, pc := range conns {
		_ = pc.Reply(func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotModified) })
	}
	wg.Wait()
}

// serving counts the goroutines serving an HTTP/1 connection.
func serving(t *testing.T) int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(block, "net/http.(*conn).serve") {
			var k int
			fmt.Sscanf(block, "%d @", &k)
			n += k
		}
	}
	return n
}

// A client that asked to close gets its answer, then the connection
// closes; closing the listener closes what is parked.
func TestParkedCloseAndShutdown(t *testing.T) {
	s := newServer(t)
	c := s.client()
	errs := make(chan error, 2)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/wait", nil)
		req.Close = true
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if !resp.Close {
				err = fmt.Errorf("the answer to Connection: close kept the connection")
			}
		}
		errs <- err
	}()
	_ = s.next(t).Reply(func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := s.client().Get(s.URL + "/wait")
		errs <- err
	}()
	pc := s.next(t)
	s.parked.Close()
	if err := <-errs; err == nil {
		t.Fatal("a request parked on a closed listener was answered")
	}
	if err := pc.Reply(func(w http.ResponseWriter) {}); err == nil {
		t.Fatal("a reply on a closed listener's connection succeeded")
	}
}

// HTTP/2 requests are not parked: the handler answers them as usual.
func TestHTTP2IsNotParked(t *testing.T) {
	s := &server{waits: make(chan *park.Conn, 1)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := park.Hijack(w, r); ok {
			t.Error("an HTTP/2 request was parked")
			return
		}
		io.WriteString(w, r.Proto)
	}))
	s.EnableHTTP2 = true
	l := park.NewListener(s.Listener.Addr())
	s.Config.BaseContext = func(net.Listener) context.Context { return l.Context(context.Background()) }
	s.StartTLS()
	defer s.Close()
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	tr.ForceAttemptHTTP2 = true
	resp, err := (&http.Client{Transport: tr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "HTTP/2.0" {
		t.Fatalf("answered %q", b)
	}
}
