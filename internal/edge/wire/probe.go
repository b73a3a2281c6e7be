package wire

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

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

// ProbeKinds are the kinds of probe an agent runs.
var ProbeKinds = []string{ProbeHTTP, ProbeTCP, ProbeICMP, ProbeControlPlane, ProbeUserPlane}

// ProbeField is a refusal of a probe spec naming the field at fault: AMP
// refuses such a declaration at commit, and an agent a desired state
// that holds one, with the same reason.
type ProbeField struct {
	Field, Reason string
}

func (e *ProbeField) Error() string { return e.Field + ": " + e.Reason }

// Check says what is wrong with a probe spec, naming the field: what the
// agent would refuse, AMP refuses at commit.
func (s ProbeSpec) Check() error {
	bad := func(field, format string, a ...any) error {
		return &ProbeField{Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case !slices.Contains(ProbeKinds, s.Kind):
		return bad("kind", "%q is not one of %s", s.Kind, strings.Join(ProbeKinds, ", "))
	case time.Duration(s.Interval) < time.Second:
		return bad("interval", "%s is shorter than 1s", time.Duration(s.Interval))
	case s.Timeout <= 0:
		return bad("timeout", "%s is not positive", time.Duration(s.Timeout))
	case s.Target == "" && s.Kind != ProbeControlPlane:
		return bad("target", "required for a %s probe", s.Kind)
	case s.SourceAddress != "" && net.ParseIP(s.SourceAddress) == nil:
		return bad("source-address", "%q is not an IP address", s.SourceAddress)
	case s.Target == "":
		return nil
	case s.Kind == ProbeHTTP || IsProbeURL(s.Target):
		u, err := url.Parse(s.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("target", "%q is not an http or https URL", s.Target)
		}
	case s.Kind == ProbeICMP:
		if len(s.Target) > 253 || strings.ContainsAny(s.Target, ":/ ") && net.ParseIP(s.Target) == nil {
			return bad("target", "%q is not a host name or address", s.Target)
		}
	default:
		if _, _, err := net.SplitHostPort(s.Target); err != nil {
			return bad("target", "%q is not host:port or an http(s) URL", s.Target)
		}
	}
	return nil
}

// IsProbeURL reports whether a target is an http(s) URL rather than
// host:port.
func IsProbeURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
