package edge

import (
	"fmt"
	"time"
)

// CheckinInterval is the agents' check-in interval, a flag value
// (amp serve --agent-checkin-interval) bounded to 1s..60s: the issue
// promises a check-in at least every minute, and a shorter one only
// costs the fleet more.
type CheckinInterval time.Duration

// The interval's bounds and default.
const (
	MinInterval     = time.Second
	MaxInterval     = time.Minute
	DefaultInterval = 30 * time.Second
)

// Interval is the process's check-in interval (amp serve sets it from
// --agent-checkin-interval); hubs started after read it.
var Interval = CheckinInterval(DefaultInterval)

// Set parses and bounds a flag value.
func (c *CheckinInterval) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < MinInterval || d > MaxInterval {
		return fmt.Errorf("%s is not from %s to %s", d, MinInterval, MaxInterval)
	}
	*c = CheckinInterval(d)
	return nil
}

func (c *CheckinInterval) String() string { return time.Duration(*c).String() }

// Type names the flag's value type in --help.
func (c *CheckinInterval) Type() string { return "duration" }

// LastSeenWrite is how often a connected agent's last-seen alone is
// written to the store, a flag value (amp serve --agent-last-seen-every)
// bounded to 1s..1h. Each write is a store commit per connected agent
// (10,000 agents every 5 minutes: 33 a second); between writes the
// last-seen lives in the memory of the replica the agent talks to, so
// another replica on the same store sees it up to this old.
type LastSeenWrite time.Duration

// The last-seen write's bounds and default.
const (
	MinLastSeenWrite     = time.Second
	MaxLastSeenWrite     = time.Hour
	DefaultLastSeenWrite = 5 * time.Minute
)

// LastSeenEvery is the process's last-seen write interval (amp serve sets
// it from --agent-last-seen-every); hubs started after read it.
var LastSeenEvery = LastSeenWrite(DefaultLastSeenWrite)

// Set parses and bounds a flag value.
func (w *LastSeenWrite) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < MinLastSeenWrite || d > MaxLastSeenWrite {
		return fmt.Errorf("%s is not from %s to %s", d, MinLastSeenWrite, MaxLastSeenWrite)
	}
	*w = LastSeenWrite(d)
	return nil
}

func (w *LastSeenWrite) String() string { return time.Duration(*w).String() }

// Type names the flag's value type in --help.
func (w *LastSeenWrite) Type() string { return "duration" }
