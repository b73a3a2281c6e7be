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
