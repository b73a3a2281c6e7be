// Package wire is the agent link's protocol: the JSON bodies an edge agent
// (`amp agent`, internal/agent) and AMP's central end (internal/edge)
// exchange over HTTPS with mutual TLS. Both ends import it and nothing
// else of each other, so the agent never links server code and the server
// never links agent code.
//
// The link is outbound only: the agent dials AMP, AMP never dials a site.
//
//	POST /clusters/register                       RegisterRequest  → Credentials (token-authenticated, public)
//	POST /edge/v1/clusters/{cluster}/certificate  RenewRequest     → Credentials (the cluster's certificate)
//	PUT  /edge/v1/clusters/{cluster}/status       Checkin          → CheckinAnswer
//	GET  /edge/v1/clusters/{cluster}/desired?since=INDEX&wait=55s
//	     (If-None-Match: "<digest>")                               → Desired, or 304 when unchanged
//	GET  /edge/v1/clusters/{cluster}/charts/sha256:<hex>           → a chart archive its desired state names
//
// It imports the standard library only.
package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// RegisterRequest is an agent's enrolment: the single-use token minted
// for its cluster (`amp cluster token`) and a certificate signing request
// for the key it generated and keeps at the site.
type RegisterRequest struct {
	Token string `json:"token"`
	// Cluster, when set, is the cluster the agent means to enrol as: a
	// token minted for another cluster is then refused.
	Cluster string `json:"cluster,omitempty"`
	// CSR is a PEM "CERTIFICATE REQUEST"; AMP sets the subject itself
	// (CN = the token's cluster), whatever the CSR asks for.
	CSR string `json:"csr"`
}

// RenewRequest asks for a new certificate before the current one
// expires, authenticated by the current one.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// Credentials is what AMP answers an enrolment or a renewal with.
type Credentials struct {
	Cluster string `json:"cluster"`
	// Certificate is the PEM client certificate AMP signed (CN = cluster).
	Certificate string `json:"certificate"`
	// CA is the PEM certificate of the CA that signs agent certificates.
	CA string `json:"ca"`
	// ServerCA is the PEM CA bundle that signs AMP's serving certificate,
	// when AMP knows it (its local CA); the agent pins it.
	ServerCA  string    `json:"server-ca,omitempty"`
	NotAfter  time.Time `json:"not-after"`
	RenewAt   time.Time `json:"renew-at"` // two thirds into the lifetime
	Serial    string    `json:"serial"`
	Interval  Duration  `json:"checkin-interval"`
	ServerNow time.Time `json:"server-time"` // for the agent's clock-skew report
}

// Object is one thing the agent keeps applied at its site, addressed by
// kind and name. Spec is the kind's own JSON, read by the applier that
// registered the kind; Digest is the SHA-256 of Spec (ObjectDigest).
type Object struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Spec   json.RawMessage `json:"spec"`
	Digest string          `json:"digest"`
	// Index is the transaction at which this object last changed.
	Index uint64 `json:"index"`
}

// Ref names an object.
type Ref struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Desired is a cluster's desired state as of Index. Full: Objects is the
// whole state. Otherwise it is the change since the index the agent asked
// with (?since=): Objects changed or added, Removed gone; anything else is
// as the agent holds it. Digest is always the digest of the WHOLE state
// (StateDigest), so an agent can check the result of applying a delta.
type Desired struct {
	Cluster string   `json:"cluster"`
	Index   uint64   `json:"index"`
	Digest  string   `json:"digest"`
	Full    bool     `json:"full"`
	Objects []Object `json:"objects"`
	Removed []Ref    `json:"removed,omitempty"`
	// Traceparent is the W3C trace context (traceparent header value) of
	// the request that committed the change that made this state, when
	// AMP knows it: the agent's pull and apply of the state continue that
	// trace (docs/monitoring.md, "Traces").
	Traceparent string `json:"traceparent,omitempty"`
}

// ObjectDigest is the digest of an object's spec.
func ObjectDigest(spec json.RawMessage) string {
	h := sha256.Sum256(spec)
	return hex.EncodeToString(h[:])
}

// StateDigest is the digest of a whole desired state: of its objects'
// kinds, names and digests in (kind, name) order, so that both ends
// compute it alike whatever order they hold the objects in.
func StateDigest(objects []Object) string {
	refs := make([]Object, len(objects))
	copy(refs, objects)
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Kind != refs[j].Kind {
			return refs[i].Kind < refs[j].Kind
		}
		return refs[i].Name < refs[j].Name
	})
	h := sha256.New()
	for _, o := range refs {
		h.Write([]byte(o.Kind))
		h.Write([]byte{0})
		h.Write([]byte(o.Name))
		h.Write([]byte{0})
		h.Write([]byte(o.Digest))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Checkin is what the agent reports at every interval (and at once after
// an apply or a reconnection).
type Checkin struct {
	AgentVersion string    `json:"agent-version"`
	AgentTime    time.Time `json:"agent-time"`
	Facts        Facts     `json:"facts"`
	// Applied is the desired state the agent holds and enforces.
	Applied Applied `json:"applied"`
	// Objects is the per-object outcome of the last apply or drift
	// correction (every object of the applied state).
	Objects []ObjectStatus `json:"objects"`
	// Outage is reported once, on the first check-in after the link came
	// back: when it was lost and what the agent did meanwhile.
	Outage *Outage `json:"outage,omitempty"`
}

// Applied names the desired state an agent holds.
type Applied struct {
	Index  uint64 `json:"index"`
	Digest string `json:"digest"`
}

// Facts are read from the site's Kubernetes API.
type Facts struct {
	KubernetesVersion string `json:"kubernetes-version,omitempty"`
	Nodes             []Node `json:"nodes"`
}

// Node is a Kubernetes node as the agent read it.
type Node struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Taints as key=value:Effect (key:Effect without a value).
	Taints []string `json:"taints,omitempty"`
	Ready  bool     `json:"ready"`
}

// The states of an object at the site.
const (
	StateApplied = "applied" // the site holds the object as desired (verified by reading it back)
	StateFailed  = "failed"  // the applier refused or failed; Message says why
	StatePending = "pending" // not yet applied
)

// ObjectStatus is an object's outcome at the site.
type ObjectStatus struct {
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Digest  string    `json:"digest"`
	State   string    `json:"state"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
	// Drift: the object had been changed at the site and the agent
	// restored it (Message names what).
	Drift bool `json:"drift,omitempty"`
	// Ready, for the kinds whose objects run workloads (helm-release):
	// whether their resources are ready as Kubernetes judges them (nil:
	// the kind has no readiness). Message says what is not ready.
	Ready *bool `json:"ready,omitempty"`
	// Version is the version the site runs now (helm-release: the
	// bundle version of the deployed release), which may lag the spec's.
	Version string `json:"version,omitempty"`
}

// Outage is what an agent did while it could not reach AMP.
type Outage struct {
	LostAt      time.Time `json:"lost-at"`
	RegainedAt  time.Time `json:"regained-at"`
	Restarts    int       `json:"restarts"`    // agent restarts during the outage
	Corrections int       `json:"corrections"` // drift corrections made offline
	LastError   string    `json:"last-error,omitempty"`
}

// CheckinAnswer tells the agent what AMP holds for it.
type CheckinAnswer struct {
	Desired  Applied  `json:"desired"` // the current desired state's index and digest
	Interval Duration `json:"checkin-interval"`
	// RenewNow asks the agent to renew its certificate now (the operator
	// rotated the CA, or the certificate is past its renewal time).
	RenewNow  bool      `json:"renew-now,omitempty"`
	ServerNow time.Time `json:"server-time"`
}

// Duration is a time.Duration written as Go writes it ("30s").
type Duration time.Duration

// MarshalJSON writes d as a string such as "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
