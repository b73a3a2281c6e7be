package wire

import "time"

// KindProbe is the kind of the objects that carry an end-to-end probe to
// a site: AMP's probe source (internal/edge/probes) gives every cluster
// the two built-ins (control-plane, user-plane) and the probes declared
// for it; the agent's probe applier (internal/agent/probe) runs them and
// pushes each result at once:
//
//	POST /edge/v1/clusters/{cluster}/probes   ProbePush → 200 ProbePushAnswer
const KindProbe = "probe"

// The kinds of probe (ProbeSpec.Kind).
const (
	ProbeHTTP         = "http"
	ProbeTCP          = "tcp"
	ProbeICMP         = "icmp"
	ProbeControlPlane = "control-plane"
	ProbeUserPlane    = "user-plane"
)

// ProbeSpec is the spec of a probe object; the object's name is the
// probe's (the probe label of its results).
type ProbeSpec struct {
	Kind string `json:"kind"`
	// Target is a URL (http), host:port (tcp), a host (icmp), or either a
	// URL or host:port (control-plane: the core, optional; user-plane:
	// the Internet target).
	Target string `json:"target,omitempty"`
	// SourceAddress is the local address to send from (the UE-side path).
	SourceAddress string   `json:"source-address,omitempty"`
	Interval      Duration `json:"interval"`
	Timeout       Duration `json:"timeout"`
	// ExpectStatus is the HTTP status that means ok (0: any 2xx).
	ExpectStatus int `json:"expect-status,omitempty"`
}

// ProbeResult is one run of a probe at the site.
type ProbeResult struct {
	Probe    string    `json:"probe"`
	Kind     string    `json:"kind"`
	Target   string    `json:"target,omitempty"`
	OK       bool      `json:"ok"`
	Duration float64   `json:"duration-seconds"`
	At       time.Time `json:"at"`
	// Message says why it failed, or what it measured.
	Message string `json:"message,omitempty"`
}

// ProbePush carries results, oldest first: one at once after each run,
// or those buffered at the site while AMP was out of reach.
type ProbePush struct {
	Results []ProbeResult `json:"results"`
}

// ProbePushAnswer says how many results AMP took.
type ProbePushAnswer struct {
	Accepted int `json:"accepted"`
}
