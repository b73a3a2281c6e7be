package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
)

// linkEnd answers the agent link's routes as the wire protocol says, in
// memory, so that the run loop's own logic (deltas, outages, renewal) is
// tested on its own; AMP's real end is tested with the agent in test/e2e.
type linkEnd struct {
	t        *testing.T
	ca       *testCA
	mu       sync.Mutex
	down     bool
	cur      *wire.Desired
	history  map[uint64]*wire.Desired
	changed  chan struct{}
	checkins []wire.Checkin
	renewNow bool
	serials  map[string]bool // client certificate serials seen
	deltas   int
	polling  int // polls being answered now
	beside   int // check-ins that came while a poll was being answered
}

func (l *linkEnd) set(d *wire.Desired) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = d
	l.history[d.Index] = d
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *linkEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.serials[r.TLS.PeerCertificates[0].SerialNumber.String()] = true
	down := l.down
	l.mu.Unlock()
	if down {
		http.Error(w, "AMP is down", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/edge/v1/clusters/ace-x/desired":
		l.desired(w, r)
	case r.Method == http.MethodPut && r.URL.Path == "/edge/v1/clusters/ace-x/status":
		var c wire.Checkin
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.checkins = append(l.checkins, c)
		if l.polling > 0 {
			l.beside++
		}
		ans := wire.CheckinAnswer{Desired: wire.Applied{Index: l.cur.Index, Digest: l.cur.Digest}, Interval: wire.Duration(20 * time.Millisecond), RenewNow: l.renewNow, ServerNow: time.Now()}
		l.mu.Unlock()
		json.NewEncoder(w).Encode(ans)
	case r.Method == http.MethodPost && r.URL.Path == "/edge/v1/clusters/ace-x/certificate":
		var rr wire.RenewRequest
		if err := json.NewDecoder(r.Body).Decode(&rr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		l.mu.Lock()
		l.renewNow = false
		l.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.Credentials{Cluster: "ace-x", Certificate: l.ca.sign(l.t, rr.CSR, 3, now.Add(-time.Minute), now.Add(time.Hour)), CA: l.ca.pem, Serial: "3"})
	default:
		http.Error(w, "no route", http.StatusNotFound)
	}
}

func (l *linkEnd) desired(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	etag := strings.Trim(r.Header.Get("If-None-Match"), `"`)
	l.mu.Lock()
	cur, ch := l.cur, l.changed
	l.polling++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.polling--
		l.mu.Unlock()
	}()
	if etag != "" && etag == cur.Digest {
		select {
		case <-ch:
		case <-time.After(wait):
		case <-r.Context().Done():
		}
		l.mu.Lock()
		cur = l.cur
		l.mu.Unlock()
		if cur.Digest == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	l.mu.Lock()
	old, ok := l.history[since]
	l.mu.Unlock()
	if since == 0 || !ok {
		json.NewEncoder(w).Encode(cur)
		return
	}
	d := wire.Desired{Cluster: "ace-x", Index: cur.Index, Digest: cur.Digest}
	was := map[wire.Ref]string{}
	for _, o := range old.Objects {
		was[wire.Ref{Kind: o.Kind, Name: o.Name}] = o.Digest
	}
	for _, o := range cur.Objects {
		ref := wire.Ref{Kind: o.Kind, Name: o.Name}
		if was[ref] != o.Digest {
			d.Objects = append(d.Objects, o)
		}
		delete(was, ref)
	}
	for ref := range was {
		d.Removed = append(d.Removed, ref)
	}
	l.mu.Lock()
	l.deltas++
	l.mu.Unlock()
	json.NewEncoder(w).Encode(d)
}

// The loop against a link that is first down, then up: the outage is
// journalled then reported once, with when it began; the whole state is
// fetched and applied; a change arrives as a delta and is applied (the
// one object changed, the one removed pruned) and reported as applied;
// asked to renew, the agent gets a new certificate and presents it, as
// it does a certificate enrolled anew while it runs.
func TestOnlineLoop(t *testing.T) {
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	end := &linkEnd{t: t, history: map[uint64]*wire.Desired{}, changed: make(chan struct{}), serials: map[string]bool{}, down: true}
	end.set(desired(4, map[string]string{"n1": `{"env":"prod"}`, "n2": `{"env":"lab"}`}))
	srv := httptest.NewUnstartedServer(end)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	now := time.Now()
	end.ca = enrolWith(t, d, srv.URL, serverCA, now.Add(-time.Minute), now.Add(time.Hour))

	site := newLabels()
	reg := apply.NewRegistry()
	reg.Register("node", site)
	a, err := New(Options{
		Dir: d, Registry: reg, Wait: time.Second, Version: "test",
		Backoff: link.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 1},
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(r.stop)

	eventually(t, "the outage journalled", func() bool { j := journal(t, d); return j.Outage != nil })
	lostAt := journal(t, d).Outage.LostAt
	end.mu.Lock()
	end.down = false
	end.mu.Unlock()
	eventually(t, "the whole state applied", func() bool { return site.get("n1", "env") == "prod" && site.get("n2", "env") == "lab" })
	eventually(t, "the outage reported and closed", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		for _, c := range end.checkins {
			if c.Outage != nil && c.Outage.LostAt.Equal(lostAt) && !c.Outage.RegainedAt.Before(lostAt) && c.Outage.LastError != "" {
				return journal(t, d).Outage == nil
			}
		}
		return false
	})

	end.set(desired(5, map[string]string{"n1": `{"env":"staging"}`, "n3": `{"env":"edge"}`}))
	eventually(t, "the delta applied", func() bool {
		return site.get("n1", "env") == "staging" && site.get("n3", "env") == "edge" && site.get("n2", "env") == ""
	})
	eventually(t, "the new state reported applied", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		c := end.checkins[len(end.checkins)-1]
		if c.Applied.Index != 5 || c.AgentVersion != "test" || len(c.Objects) != 2 {
			return false
		}
		for _, o := range c.Objects {
			if o.State != wire.StateApplied {
				return false
			}
		}
		return true
	})
	end.mu.Lock()
	deltas := end.deltas
	end.mu.Unlock()
	if deltas == 0 {
		t.Fatal("the change came as a whole state, not as a delta")
	}
	if c, err := d.Desired(); err != nil || c.Index != 5 || c.Digest != end.cur.Digest || !c.Full {
		t.Fatalf("cached: %+v, %v", c, err)
	}

	end.mu.Lock()
	end.renewNow = true
	end.mu.Unlock()
	eventually(t, "the renewed certificate in use", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		return end.serials["3"]
	})
	id, err := d.Identity()
	if err != nil || id.Leaf.SerialNumber.Int64() != 3 {
		t.Fatalf("cert.pem after the renewal: %v, %v", id, err)
	}

	// Enrolled again by hand (amp agent register, e.g. after a
	// revocation): the running agent presents the new certificate.
	csr, err := d.CSR("ace-x")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveCredentials(&wire.Credentials{Cluster: "ace-x", Certificate: end.ca.sign(t, csr, 4, now.Add(-time.Minute), now.Add(time.Hour))}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new enrolment in use", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		return end.serials["4"]
	})
}

// The periodic check-ins ride the poll's connection: a poll waits no
// later than the next check-in (here every 50 ms, polls of a minute), the
// agent checks in once it has its answer, and polls again; so no
// periodic check-in comes while a poll waits (a check-in beside a
// waiting poll needs a connection of its own).
func TestCheckinsBetweenPolls(t *testing.T) {
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	end := &linkEnd{t: t, history: map[uint64]*wire.Desired{}, changed: make(chan struct{}), serials: map[string]bool{}}
	end.set(desired(4, map[string]string{"n1": `{"env":"prod"}`}))
	srv := httptest.NewUnstartedServer(end)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	conns := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			end.mu.Lock()
			conns++
			end.mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	now := time.Now()
	end.ca = enrolWith(t, d, srv.URL, serverCA, now.Add(-time.Minute), now.Add(time.Hour))
	site := newLabels()
	reg := apply.NewRegistry()
	reg.Register("node", site)
	a, err := New(Options{Dir: d, Registry: reg, Wait: time.Minute, Interval: 50 * time.Millisecond, Version: "test",
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(r.stop)

	// Settled: the state applied and reported (the report of news goes
	// at once, beside the waiting poll), then three periodic check-ins.
	applied := func(c wire.Checkin) bool {
		return c.Applied.Index == 4 && len(c.Objects) == 1 && c.Objects[0].State == wire.StateApplied
	}
	var settled, before, conns0 int
	eventually(t, "three check-ins after the state was reported applied", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		n := 0
		for _, c := range end.checkins {
			if applied(c) {
				n++
			}
		}
		settled, before, conns0 = len(end.checkins), end.beside, conns
		return n >= 4
	})
	eventually(t, "ten more check-ins", func() bool {
		end.mu.Lock()
		defer end.mu.Unlock()
		return len(end.checkins) >= settled+10
	})
	end.mu.Lock()
	defer end.mu.Unlock()
	if end.beside != before || conns != conns0 {
		t.Fatalf("of %d periodic check-ins, %d came while a poll waited, on %d new connections; want none: they go between two polls, on the poll's connection",
			len(end.checkins)-settled, end.beside-before, conns-conns0)
	}
	if site.get("n1", "env") != "prod" {
		t.Fatal("the state was not applied")
	}
}
