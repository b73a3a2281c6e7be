package netlimit

import (
	"sync"
	"time"
)

// Limiter bounds the attempts of each source address in a window, for a
// route that takes no API credential (a cluster's registration, a git
// webhook): anyone who reaches it may call it, and must not try tokens or
// signatures without bound. It
// tracks at most MaxSources sources; when they are all busy, new sources
// wait for the window too.
type Limiter struct {
	PerWindow  int
	Window     time.Duration
	MaxSources int
	Now        func() time.Time

	mu   sync.Mutex
	seen map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// Allow counts an attempt from source and returns 0 when it may proceed,
// or how long the source must wait.
func (l *Limiter) Allow(source string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	if l.seen == nil {
		l.seen = map[string]*window{}
	}
	w, ok := l.seen[source]
	if ok && now.Sub(w.start) >= l.Window {
		w.start, w.n = now, 0
	}
	if !ok {
		if len(l.seen) >= l.MaxSources {
			l.expire(now)
		}
		if len(l.seen) >= l.MaxSources {
			return l.Window
		}
		w = &window{start: now}
		l.seen[source] = w
	}
	if w.n >= l.PerWindow {
		return w.start.Add(l.Window).Sub(now)
	}
	w.n++
	return 0
}

// expire forgets the sources whose window has ended.
func (l *Limiter) expire(now time.Time) {
	for s, w := range l.seen {
		if now.Sub(w.start) >= l.Window {
			delete(l.seen, s)
		}
	}
}
