package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/endpoint"
)

// backendsReport logs and audits every load of the operator's backends
// file: a change of who may reach which backend is a write like any other.
func backendsReport(ctx context.Context, path string, trail *audit.Log, log *slog.Logger) func(string, error) {
	return func(summary string, err error) {
		rec := audit.Record{Principal: "operator", Interface: "file", Action: "backends-load", Paths: []string{path}, Outcome: "allowed", Reason: summary}
		if err != nil {
			rec.Outcome, rec.Reason = "error", err.Error()
			log.Error("backends file not loaded", "file", path, "error", err)
		} else {
			log.Info("backends loaded", "file", path, "backends", summary)
		}
		trail.Enqueue(ctx, rec)
	}
}

// demoBackendsFile records the demo backends' address in the data dir, so
// a restart serves them where the stored demo data points.
const demoBackendsFile = "demo-backends.addr"

// startDemoBackends starts the demo's in-process emulators, grants each
// site's to its enterprise and lets AMP connect to their loopback address
// (to it alone).
func startDemoBackends(cfg Config, netw *endpoint.Network, reg *endpoint.Registry, log *slog.Logger) (DemoBackends, error) {
	rec := filepath.Join(cfg.DataDir, demoBackendsFile)
	addr := cfg.DemoBackendsListen
	if addr == "" {
		addr = "127.0.0.1:0"
		if b, err := os.ReadFile(rec); err == nil {
			addr = strings.TrimSpace(string(b))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	db, err := cfg.DemoData.StartBackends(addr)
	if err != nil {
		return nil, fmt.Errorf("%w (--demo-backends-listen picks another address, --demo-backends=false runs the demo without them)", err)
	}
	for _, b := range db.Grants() {
		if err := reg.Add(b); err != nil {
			db.Close()
			return nil, fmt.Errorf("demo backends: %w", err)
		}
	}
	netw.AllowExact(db.Address())
	if err := os.WriteFile(rec, []byte(db.Address().String()+"\n"), 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("demo backends: %w", err)
	}
	log.Info("demo backends serving", "address", db.Address().String())
	fmt.Fprint(os.Stderr, db.Banner())
	return db, nil
}
