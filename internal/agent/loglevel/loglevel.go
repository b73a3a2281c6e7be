// Package loglevel is the agent's applier of kind log-level: it gives a
// component of the agent the log level its cluster's declaration lists
// (docs/logging.md, "Levels at run time"), at once, for loggers already
// made, and puts it back to the agent's --log-level when the entry goes.
//
// It imports the agent link's wire types and internal/telemetry only.
package loglevel

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/telemetry"
)

// Applier sets component levels in this process.
type Applier struct {
	mu  sync.Mutex
	set map[string]bool // components it gave a level
}

// New returns the applier; register it for wire.KindLogLevel.
func New() *Applier { return &Applier{set: map[string]bool{}} }

// Register adds the applier to reg.
func (a *Applier) Register(reg *apply.Registry) { reg.Register(wire.KindLogLevel, a) }

func decode(name string, spec json.RawMessage) (wire.LogLevelSpec, error) {
	var s wire.LogLevelSpec
	if err := json.Unmarshal(spec, &s); err != nil {
		return s, fmt.Errorf("log-level %s: %w", name, err)
	}
	if _, err := telemetry.ParseLevel(s.Level); err != nil {
		return s, fmt.Errorf("log-level %s: level: %w", name, err)
	}
	return s, nil
}

// Validate checks the level, and that the component logs in this agent.
func (a *Applier) Validate(name string, spec json.RawMessage) error {
	if _, err := decode(name, spec); err != nil {
		return err
	}
	if _, ok := telemetry.LookupComponent(name); !ok {
		var known []string
		for _, c := range telemetry.Components() {
			known = append(known, c.Component)
		}
		sort.Strings(known)
		return fmt.Errorf("log-level %s: no component %q logs in this agent (it has %s)", name, name, strings.Join(known, ", "))
	}
	return nil
}

// Apply sets the component's level and reads it back.
func (a *Applier) Apply(_ context.Context, name string, spec json.RawMessage) ([]string, error) {
	s, err := decode(name, spec)
	if err != nil {
		return nil, err
	}
	lvl, _ := telemetry.ParseLevel(s.Level)
	before, ok := telemetry.LookupComponent(name)
	if !ok {
		return nil, fmt.Errorf("log-level %s: no component %q logs in this agent", name, name)
	}
	a.mu.Lock()
	a.set[name] = true
	a.mu.Unlock()
	if before.Own && before.Level == telemetry.LevelName(lvl) {
		return nil, nil
	}
	after, _ := telemetry.SetComponentLevel(name, lvl)
	if after.Level != telemetry.LevelName(lvl) {
		return nil, fmt.Errorf("log-level %s: reads back %s, not %s", name, after.Level, s.Level)
	}
	return []string{fmt.Sprintf("log level %s: %s -> %s", name, before.Level, after.Level)}, nil
}

// Prune puts the components it set and keep does not name back to the
// process-wide level.
func (a *Applier) Prune(_ context.Context, keep map[string]bool) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var removed []string
	for name := range a.set {
		if keep[name] {
			continue
		}
		c, _ := telemetry.ResetComponentLevel(name)
		delete(a.set, name)
		removed = append(removed, fmt.Sprintf("log level %s: back to %s", name, c.Level))
	}
	sort.Strings(removed)
	return removed, nil
}
