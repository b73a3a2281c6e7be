package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/tlsutil"
)

// Sampling of the contention profiles while profiles are served.
const (
	mutexFraction = 20
	blockRate     = int(100 * time.Microsecond)
)

// pprofComponent serves Go's profiles (net/http/pprof) on addr, a loopback
// address of its own: profiles show the server's internals (goroutine
// stacks name every parked request), so they are never on the API's
// listener and never off the machine. Off unless --pprof-listen is given.
func pprofComponent(addr string, log *slog.Logger) (component.Component, error) {
	loop, err := tlsutil.IsLoopback(addr)
	if err != nil {
		return component.Component{}, fmt.Errorf("--pprof-listen %q: %w", addr, err)
	}
	if !loop {
		return component.Component{}, fmt.Errorf("--pprof-listen %s: profiles are served on a loopback address only (127.0.0.1:6060, [::1]:6060): they expose the server's internals", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return component.Component{}, fmt.Errorf("--pprof-listen %s: %w", addr, err)
	}
	// The mutex and block profiles (/debug/pprof/mutex, /debug/pprof/block)
	// are empty unless sampled; sampled sparsely, so that the server
	// profiled is still the server measured: one contended unlock in
	// mutexFraction, one blocking event per blockRate ns spent blocked.
	runtime.SetMutexProfileFraction(mutexFraction)
	runtime.SetBlockProfileRate(blockRate)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(log)}
	log.Info("profiles serving", "address", "http://"+ln.Addr().String()+"/debug/pprof/")
	return component.Component{Name: "pprof",
		Run: func(context.Context) error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		Stop: func() { srv.Close() }}, nil
}
