package rest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/schema"
)

// Limits bound what one request can make the server hold, so that neither a
// token holder nor an unauthenticated peer can exhaust it (docs/security.md,
// "HTTP API limits"). Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxBody bounds the body of an ordinary write, in bytes.
	MaxBody int64
	// MaxBulkBody bounds the body of a compatibility layer's bulk route
	// (compat.Route.Bulk), the one that `amp import` and `amp apply` use.
	MaxBulkBody int64
	// MaxElements bounds the JSON values (objects, arrays and their
	// members) of one body; decoding stops at the first one over. Decoded
	// JSON costs far more memory than its text, so this, not the byte
	// count, is what bounds a request's allocation.
	MaxElements int
	// MaxDepth bounds the nesting of objects and arrays in one body.
	MaxDepth int
	// LargeBody is the size from which a body (or one of unknown length)
	// needs one of MaxLarge slots; a request finding none is answered 503.
	LargeBody int64
	MaxLarge  int
	// BodyTimeout is how long a client has to send a request's body.
	BodyTimeout time.Duration
	// WriteTimeout is how long a non-streaming response may take to write.
	WriteTimeout time.Duration
	// PerPrincipal bounds one principal's requests in progress, and
	// StreamsPerPrincipal its open /watch streams: whole-tree reads,
	// /diff?from=0 and /watch?from=0 cost the server in proportion to the
	// history and the tree, so one caller gets a bounded share of it.
	PerPrincipal, StreamsPerPrincipal int
	// PrincipalWait is how long a request over PerPrincipal waits for one
	// of the principal's requests to end before it is refused (429): a
	// client with more concurrent writers than PerPrincipal is slowed,
	// not failed. Streams are refused at once (they do not end soon).
	PrincipalWait time.Duration
}

// DefaultLimits are the limits of a server whose Options set none.
var DefaultLimits = Limits{
	MaxBody:             4 << 20,
	MaxBulkBody:         64 << 20,
	MaxElements:         2_000_000,
	MaxDepth:            64,
	LargeBody:           1 << 20,
	MaxLarge:            2,
	BodyTimeout:         60 * time.Second,
	WriteTimeout:        2 * time.Minute,
	PerPrincipal:        32,
	StreamsPerPrincipal: 8,
	PrincipalWait:       10 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	setPositive(&d.MaxBody, l.MaxBody)
	setPositive(&d.MaxBulkBody, l.MaxBulkBody)
	setPositive(&d.MaxElements, l.MaxElements)
	setPositive(&d.MaxDepth, l.MaxDepth)
	setPositive(&d.LargeBody, l.LargeBody)
	setPositive(&d.MaxLarge, l.MaxLarge)
	setPositive(&d.BodyTimeout, l.BodyTimeout)
	setPositive(&d.WriteTimeout, l.WriteTimeout)
	setPositive(&d.PerPrincipal, l.PerPrincipal)
	setPositive(&d.StreamsPerPrincipal, l.StreamsPerPrincipal)
	setPositive(&d.PrincipalWait, l.PrincipalWait)
	return d
}

// setPositive sets *dst to v when v is set (above zero): a zero or negative
// limit means the default.
func setPositive[T int | int64 | time.Duration](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// limiter applies Limits to requests.
type limiter struct {
	Limits
	large   chan struct{} // a token per large body in progress
	refused *prometheus.CounterVec
	// bulk names the routes whose bodies MaxBulkBody bounds (a
	// compatibility layer's bulk routes, compat.Route.Bulk).
	bulk map[string]bool

	mu       sync.Mutex
	inFlight map[string]*principalSlots // by principal: requests, and streams under "stream\x00"+name
}

// principalSlots holds a token per request (or stream) of one principal in
// progress; users counts the requests holding or waiting for one, so the
// entry goes when the last leaves.
type principalSlots struct {
	tokens chan struct{}
	users  int
}

func newLimiter(l Limits, reg *prometheus.Registry) *limiter {
	lm := &limiter{Limits: l.withDefaults(), inFlight: map[string]*principalSlots{}, bulk: map[string]bool{}, refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_http_refused_total",
		Help: "REST requests refused by a resource limit, by limit: body-size, body-elements, body-depth, body-timeout, large-busy, per-principal, streams-per-principal.",
	}, []string{"limit"})}
	lm.large = make(chan struct{}, lm.MaxLarge)
	for _, l := range []string{"body-size", "body-elements", "body-depth", "body-timeout", "large-busy", "per-principal", "streams-per-principal"} {
		lm.refused.WithLabelValues(l)
	}
	if reg != nil {
		reg.MustRegister(lm.refused)
	}
	return lm
}

// streaming routes answer for as long as the client listens: they get no
// write deadline.
func streaming(rt route) bool { return rt.name == "watch" || rt.name == "backup" }

func (lm *limiter) bodyLimit(rt route) int64 {
	if lm.bulk[rt.name] {
		return lm.MaxBulkBody
	}
	return lm.MaxBody
}

// begin sets every request's deadlines (the connection keeps them until
// the next request sets its own) and the security headers every answer
// carries. Deadlines a writer does not support (a test recorder) are left
// unset.
func (lm *limiter) begin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(lm.BodyTimeout))
	_ = rc.SetWriteDeadline(now.Add(lm.BodyTimeout + lm.WriteTimeout))
}

// extendWrite gives a request that waits on purpose (?wait=applied with
// its ?wait-timeout) the write time after that wait.
func (lm *limiter) extendWrite(w http.ResponseWriter, wait time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + lm.WriteTimeout))
}

// stream lifts the deadlines of a streaming route: its request has no
// body, and the server's background read must not end the stream when a
// read deadline passes.
func (lm *limiter) stream(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

// closeUnread ends the connection after a refusal given before the body
// was read: net/http would otherwise read (drain) up to 256 kB of it after
// the answer, at the pace the client chooses, and a stranger's body is
// never read at all. A read deadline in the past stops that read.
func (lm *limiter) closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	if jb, ok := r.Body.(*jsonBody); ok && jb.eof {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// admitBody bounds the request's body: its size for the route, a slot when
// it is large, and its JSON shape while it is read. release frees the slot.
func (lm *limiter) admitBody(w http.ResponseWriter, r *http.Request, rt route) (release func(), err error) {
	release = func() {}
	if r.Body == nil || r.Body == http.NoBody {
		return release, nil
	}
	limit := lm.bodyLimit(rt)
	if r.ContentLength > limit {
		lm.refused.WithLabelValues("body-size").Inc()
		return release, tooLarge(r.URL.Path, limit)
	}
	if r.ContentLength < 0 || r.ContentLength > lm.LargeBody {
		select {
		case lm.large <- struct{}{}:
			release = func() { <-lm.large }
		default:
			lm.refused.WithLabelValues("large-busy").Inc()
			w.Header().Set("Retry-After", "1")
			return release, &schema.Error{Kind: schema.KindUnavailable, Message: "too many large requests in progress",
				Problems: []schema.Problem{{Path: r.URL.Path, Reason: fmt.Sprintf(
					"%d requests with bodies over %d bytes are in progress (the server's --max-large-requests); retry shortly", lm.MaxLarge, lm.LargeBody)}}}
		}
	}
	r.Body = &jsonBody{src: http.MaxBytesReader(w, r.Body, limit), lm: lm, path: r.URL.Path}
	return release, nil
}

func tooLarge(path string, limit int64) error {
	return &schema.Error{Kind: schema.KindTooLarge, Message: "request body too large", Problems: []schema.Problem{{Path: path,
		Reason: fmt.Sprintf("request body larger than %d bytes (the server's limit for this route)", limit)}}}
}

// admitPrincipal counts a request of principal p in progress, waiting up
// to PrincipalWait for a slot when p already has its share, or refuses it
// (429); done uncounts it. A stream over its share is refused at once.
func (lm *limiter) admitPrincipal(w http.ResponseWriter, r *http.Request, p string, rt route) (done func(), err error) {
	key, limit, flag, label, wait := p, lm.PerPrincipal, "--max-requests-per-principal", "per-principal", lm.PrincipalWait
	if streaming(rt) {
		key, limit, flag, label, wait = "stream\x00"+p, lm.StreamsPerPrincipal, "--max-streams-per-principal", "streams-per-principal", 0
	}
	lm.mu.Lock()
	ps := lm.inFlight[key]
	if ps == nil {
		ps = &principalSlots{tokens: make(chan struct{}, limit)}
		lm.inFlight[key] = ps
	}
	ps.users++
	lm.mu.Unlock()
	leave := func() {
		lm.mu.Lock()
		defer lm.mu.Unlock()
		if ps.users--; ps.users == 0 {
			delete(lm.inFlight, key)
		}
	}
	admitted := func() (func(), error) {
		return func() { <-ps.tokens; leave() }, nil
	}
	select {
	case ps.tokens <- struct{}{}:
		return admitted()
	default:
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case ps.tokens <- struct{}{}:
			return admitted()
		case <-t.C:
		case <-r.Context().Done():
		}
	}
	leave()
	lm.refused.WithLabelValues(label).Inc()
	w.Header().Set("Retry-After", "1")
	return func() {}, &statusError{code: http.StatusTooManyRequests, err: &schema.Error{Kind: schema.KindUnavailable,
		Message: "too many requests in progress", Problems: []schema.Problem{{Path: r.URL.Path,
			Reason: fmt.Sprintf("%d requests of this kind by %s are in progress (the server's %s); wait for one to end", limit, p, flag)}}}}
}

// jsonBody passes a JSON body through while checking, byte by byte and
// before the decoder holds it, that it stays within the element and depth
// limits and is valid UTF-8. The decoder buffers a whole value before it
// builds maps, so a body over a limit is refused before any of it is
// decoded.
type jsonBody struct {
	src  io.ReadCloser
	lm   *limiter
	path string

	inString, escape bool
	depth, elements  int
	carry            [utf8.UTFMax]byte // the start of a rune split across reads
	ncarry           int
	eof              bool // read to its end
	err              error
}

func (b *jsonBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if serr := b.scan(p[:n]); serr != nil {
		b.err = serr
		return 0, serr
	}
	if err == io.EOF {
		b.eof = true
		if b.ncarry > 0 {
			err = schema.Errorf(schema.KindInvalid, "/", "the request body is not valid UTF-8")
		}
	}
	if err != nil && err != io.EOF {
		err = b.readError(err)
		b.err = err
	}
	return n, err
}

func (b *jsonBody) Close() error { return b.src.Close() }

func (b *jsonBody) readError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		b.lm.refused.WithLabelValues("body-size").Inc()
		return tooLarge(b.path, mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.lm.refused.WithLabelValues("body-timeout").Inc()
		return &statusError{http.StatusRequestTimeout, &schema.Error{Kind: schema.KindInvalid, Message: "request body too slow", Problems: []schema.Problem{{Path: b.path,
			Reason: "the request body was not received within " + b.lm.BodyTimeout.String() + " (the server's --body-timeout)"}}}}
	}
	return err
}

func (b *jsonBody) scan(p []byte) error {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= utf8.RuneSelf || b.ncarry > 0 {
			if err := b.rune(p, &i); err != nil {
				return err
			}
			continue
		}
		if b.inString {
			switch {
			case b.escape:
				b.escape = false
			case c == '\\':
				b.escape = true
			case c == '"':
				b.inString = false
			}
			continue
		}
		switch c {
		case '"':
			b.inString = true
		case '{', '[':
			b.depth++
			if b.depth > b.lm.MaxDepth {
				b.lm.refused.WithLabelValues("body-depth").Inc()
				return schema.Errorf(schema.KindInvalid, "/",
					"the request body nests objects and arrays deeper than %d levels (the server's limit)", b.lm.MaxDepth)
			}
			fallthrough
		case ',':
			b.elements++
			if b.elements > b.lm.MaxElements {
				b.lm.refused.WithLabelValues("body-elements").Inc()
				return schema.Errorf(schema.KindTooLarge, "/",
					"the request body holds more than %d JSON values (the server's --max-body-elements); split it into several requests", b.lm.MaxElements)
			}
		case '}', ']':
			b.depth--
		}
	}
	return nil
}

// rune checks the multi-byte UTF-8 sequence at p[*i], joining it with the
// bytes carried from the previous read, and moves *i to its last byte.
func (b *jsonBody) rune(p []byte, i *int) error {
	if b.ncarry > 0 {
		need := utf8.UTFMax - b.ncarry
		k := copy(b.carry[b.ncarry:], p[*i:min(len(p), *i+need)])
		seq := b.carry[:b.ncarry+k]
		if !utf8.FullRune(seq) {
			b.ncarry += k
			*i += k - 1
			return nil
		}
		r, size := utf8.DecodeRune(seq)
		if r == utf8.RuneError && size <= 1 {
			return schema.Errorf(schema.KindInvalid, "/", "the request body is not valid UTF-8")
		}
		*i += size - b.ncarry - 1
		b.ncarry = 0
		return nil
	}
	rest := p[*i:]
	if !utf8.FullRune(rest) {
		b.ncarry = copy(b.carry[:], rest)
		*i = len(p) - 1
		return nil
	}
	r, size := utf8.DecodeRune(rest)
	if r == utf8.RuneError && size <= 1 {
		return schema.Errorf(schema.KindInvalid, "/", "the request body is not valid UTF-8")
	}
	*i += size - 1
	return nil
}
