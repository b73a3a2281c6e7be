// Package monitor is the wing of the "monitor" model set (models/monitor,
// book chapter 6): it checks the set's objects at commit (PromQL with
// Prometheus's own parser, durations, reserved labels), renders an
// enterprise's rules with every selector restricted to its series and its
// receivers and routes under a route that takes only its alerts, and
// applies them to a real Prometheus and Alertmanager as a southbound
// adapter (register.go): checked with promtool and amtool, written
// atomically, reloaded, and read back before anything is reported
// applied. docs/monitoring.md.
package monitor

import "github.com/amp-edge/amp/internal/config"

// SetName is the monitor model set's name.
const SetName = "monitor"

func init() {
	config.RegisterRule(SetName, config.Rule{Name: "monitor", Check: check})
}
