package telemetry

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// The keys of AMP's log schema beyond slog's own time, level and msg
// (docs/logging.md has the whole schema and its Elastic Common Schema
// counterparts).
const (
	KeyComponent = "component" // the part of AMP or of the agent that logged
	KeyTraceID   = "trace_id"
	KeySpanID    = "span_id"
	KeyTenant    = "enterprise" // the enterprise the record concerns, where known
	KeyObject    = "object"     // the model path the record concerns, where known
	KeyCluster   = "cluster"    // the agent's cluster (agent records only)
)

// componentLevel is one component's level: its own once set, else the
// process-wide Level. Handlers hold a pointer to it, so a change reaches
// loggers made before it.
type componentLevel struct {
	own   atomic.Bool
	level slog.LevelVar
}

func (c *componentLevel) get() slog.Level {
	if c.own.Load() {
		return c.level.Level()
	}
	return Level.Level()
}

var components = struct {
	sync.Mutex
	m map[string]*componentLevel
}{m: map[string]*componentLevel{}}

// component returns name's level, creating it (following Level) the first
// time a logger of that component is made.
func component(name string) *componentLevel {
	components.Lock()
	defer components.Unlock()
	c := components.m[name]
	if c == nil {
		c = &componentLevel{}
		components.m[name] = c
	}
	return c
}

// ComponentLevel is a component's level as reported: Own is false while
// it follows the process-wide default.
type ComponentLevel struct {
	Component string `json:"component"`
	Level     string `json:"level"`
	Own       bool   `json:"own"`
}

// LevelName is a level as AMP writes it: debug, info, warn or error.
func LevelName(l slog.Level) string { return strings.ToLower(l.String()) }

// Components lists every component that has made a logger in this
// process, by name, with its level.
func Components() []ComponentLevel {
	components.Lock()
	defer components.Unlock()
	out := make([]ComponentLevel, 0, len(components.m))
	for name, c := range components.m {
		out = append(out, ComponentLevel{Component: name, Level: LevelName(c.get()), Own: c.own.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Component < out[j].Component })
	return out
}

// LookupComponent reports name's level; ok is false for a component that
// has made no logger in this process.
func LookupComponent(name string) (ComponentLevel, bool) {
	components.Lock()
	c := components.m[name]
	components.Unlock()
	if c == nil {
		return ComponentLevel{}, false
	}
	return ComponentLevel{Component: name, Level: LevelName(c.get()), Own: c.own.Load()}, true
}

// SetComponentLevel gives a known component its own level; ok is false
// (and nothing changes) for a component that has made no logger.
func SetComponentLevel(name string, l slog.Level) (ComponentLevel, bool) {
	components.Lock()
	c := components.m[name]
	components.Unlock()
	if c == nil {
		return ComponentLevel{}, false
	}
	c.level.Set(l)
	c.own.Store(true)
	return ComponentLevel{Component: name, Level: LevelName(l), Own: true}, true
}

// ResetComponentLevel makes a component follow the process-wide level
// again.
func ResetComponentLevel(name string) (ComponentLevel, bool) {
	components.Lock()
	c := components.m[name]
	components.Unlock()
	if c == nil {
		return ComponentLevel{}, false
	}
	c.own.Store(false)
	return ComponentLevel{Component: name, Level: LevelName(c.get()), Own: false}, true
}
