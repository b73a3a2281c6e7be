// Package park lets an HTTP handler answer a request later without a
// goroutine waiting for it: the handler takes (hijacks) the request's
// HTTP/1.1 connection, the connection waits with nothing reading or
// writing it, and once the answer is written it goes back to the
// http.Server, which serves the client's next request on it as usual.
//
// Why: in net/http a waiting request holds the connection's goroutine and
// the handler's (HTTP/2 adds a frame reader), with stacks grown by the TLS
// handshake and the authorization — about 50 KiB of stack per waiting edge
// agent, 150 KiB in all, at 10,000 agents (docs/performance.md). A parked
// connection holds its TLS state and a timer.
package park

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// WriteTimeout bounds the writing of a parked request's answer: a client
// that stopped reading loses its connection instead of holding a
// goroutine.
const WriteTimeout = 30 * time.Second

// Listener hands parked connections back to an http.Server: the server
// serves it next to its real listener (srv.Serve(l)), with BaseContext
// returning l.Context(...) so that handlers may park on it. Closing it
// closes the connections parked on it.
type Listener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	parked map[*Conn]struct{}
}

// NewListener returns a listener of handed-back connections, named by the
// address of the real listener they came from.
func NewListener(addr net.Addr) *Listener {
	return &Listener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{}), parked: map[*Conn]struct{}{}}
}

// Accept returns the next connection whose parked request was answered.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops handing connections back and closes those parked.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.mu.Lock()
		defer l.mu.Unlock()
		for c := range l.parked {
			c.conn.Close()
		}
		l.parked = nil
	})
	return nil
}

// Addr is the real listener's address.
func (l *Listener) Addr() net.Addr { return l.addr }

// Parked is the number of connections parked now.
func (l *Listener) Parked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}

type ctxKey struct{}

// Context returns ctx carrying l: the base context of the server's
// requests (http.Server.BaseContext), through which Hijack finds l.
func (l *Listener) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// Conn is a parked request's connection, waiting for its answer.
type Conn struct {
	l    *Listener
	conn net.Conn
	// keep: the connection goes back to the server after the answer
	// (HTTP/1.1 keep-alive, nothing of a next request read yet).
	keep bool
	head bool
	// header: what the server set on the ResponseWriter before the
	// handler parked (security headers, trace parent), for the answer.
	header http.Header
	once   sync.Once
}

// Hijack parks the connection of r, a request with no body. ok is false,
// and w untouched, when it cannot be parked — an HTTP/2 request, a
// request with a body, a server without a Listener in its base context,
// a ResponseWriter that cannot be hijacked — and the handler answers as
// usual. Once parked, the handler must not use w: it returns, and the
// request is answered with Reply.
func Hijack(w http.ResponseWriter, r *http.Request) (*Conn, bool) {
	l, _ := r.Context().Value(ctxKey{}).(*Listener)
	if l == nil || r.ProtoMajor != 1 || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return nil, false
	}
	header := w.Header().Clone() // before the hijack, which may clear it
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, false
	}
	// No deadline while parked: nothing reads or writes the connection
	// until the answer, which sets its own.
	_ = conn.SetDeadline(time.Time{})
	c := &Conn{l: l, conn: conn, head: r.Method == http.MethodHead, header: header,
		// Bytes of a next request already read cannot go back to the
		// server with the connection: answered, it is closed.
		keep: !r.Close && brw.Reader.Buffered() == 0}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.parked == nil { // closed
		c.keep = false
		return c, true
	}
	l.parked[c] = struct{}{}
	return c, true
}

// Reply answers the parked request with what fill writes, as a handler
// writes to its ResponseWriter (status, headers, body), and hands the
// connection back to the server, or closes it when the client asked to
// or the server is closing. Only the first call answers.
func (c *Conn) Reply(fill func(w http.ResponseWriter)) error {
	err := net.ErrClosed
	c.once.Do(func() { err = c.reply(fill) })
	return err
}

func (c *Conn) reply(fill func(w http.ResponseWriter)) error {
	rec := &recorder{header: c.header}
	fill(rec)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	resp := &http.Response{StatusCode: rec.code, ProtoMajor: 1, ProtoMinor: 1, Header: rec.header,
		ContentLength: int64(rec.body.Len()), Close: !c.keep}
	resp.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	switch {
	case !bodyAllowed(rec.code):
		resp.ContentLength = 0
	case c.head:
		resp.Request = &http.Request{Method: http.MethodHead} // the length, not the body
	case rec.body.Len() > 0:
		resp.Body = io.NopCloser(&rec.body)
	}
	var out bytes.Buffer
	err := resp.Write(&out)
	if err == nil {
		_ = c.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		_, err = c.conn.Write(out.Bytes())
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
	c.l.mu.Lock()
	open := c.l.parked != nil
	delete(c.l.parked, c)
	c.l.mu.Unlock()
	if err != nil || !c.keep || !open {
		c.conn.Close()
		return err
	}
	select {
	case c.l.conns <- c.conn:
	case <-c.l.closed:
		c.conn.Close()
	}
	return nil
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// recorder is the ResponseWriter Reply's fill writes to.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
