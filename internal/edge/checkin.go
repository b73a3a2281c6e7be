package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// Bounds of a check-in: a site of a few thousand nodes and objects fits
// well within them, and a body of MaxCheckinBody costs a bounded amount to
// read and check.
const (
	MaxCheckinBody    = 1 << 20
	MaxCheckinNodes   = 5000
	MaxCheckinObjects = 10000
	maxText           = 1024
)

// Outcomes of a check-in (amp_edge_checkins_total).
const (
	CheckinUnchanged = "unchanged"
	CheckinRecorded  = "recorded"
	CheckinRefused   = "refused"
)

// ReadCheckin is DecodeCheckin, counting a refusal.
func (h *Hub) ReadCheckin(body []byte) (*wire.Checkin, error) {
	c, err := DecodeCheckin(body)
	if err != nil {
		h.m.checkins.WithLabelValues(CheckinRefused).Inc()
	}
	return c, err
}

// DecodeCheckin reads a check-in body (at most MaxCheckinBody bytes,
// known members only) and checks it; a refusal names the member and the
// reason, in the API's terms.
func DecodeCheckin(body []byte) (*wire.Checkin, error) {
	if len(body) > MaxCheckinBody {
		return nil, schema.Errorf(schema.KindTooLarge, "/", "a check-in is at most %d bytes", MaxCheckinBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var c wire.Checkin
	if err := dec.Decode(&c); err != nil {
		return nil, schema.Errorf(schema.KindInvalid, "/", "not a check-in: %v", err)
	}
	if dec.More() {
		return nil, schema.Errorf(schema.KindInvalid, "/", "one JSON object expected, more follows")
	}
	if err := checkCheckin(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkCheckin checks what a check-in says before anything of it is kept.
func checkCheckin(c *wire.Checkin) error {
	var probs []schema.Problem
	bad := func(path, format string, args ...any) {
		if len(probs) < 20 {
			probs = append(probs, schema.Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
		}
	}
	text := func(path, s string, required bool) {
		switch {
		case s == "" && required:
			bad(path, "required")
		case len(s) > maxText:
			bad(path, "longer than %d bytes", maxText)
		case !utf8.ValidString(s):
			bad(path, "not UTF-8")
		}
	}
	text("/agent-version", c.AgentVersion, true)
	if c.AgentTime.IsZero() {
		bad("/agent-time", "required: the agent's clock, for the skew report")
	}
	text("/facts/kubernetes-version", c.Facts.KubernetesVersion, false)
	if len(c.Facts.Nodes) > MaxCheckinNodes {
		bad("/facts/nodes", "%d nodes: at most %d", len(c.Facts.Nodes), MaxCheckinNodes)
	} else {
		names := map[string]bool{}
		for i, n := range c.Facts.Nodes {
			p := fmt.Sprintf("/facts/nodes/%d", i)
			text(p+"/name", n.Name, true)
			if names[n.Name] {
				bad(p+"/name", "node %q is reported twice", n.Name)
			}
			names[n.Name] = true
			for k, v := range n.Labels {
				if k == "" || len(k)+len(v) > 316 || !utf8.ValidString(k+v) {
					bad(p+"/labels/"+k, "not a Kubernetes label (key/value too long, empty or not UTF-8)")
				}
			}
			for j, t := range n.Taints {
				if err := checkTaint(t); err != "" {
					bad(fmt.Sprintf("%s/taints/%d", p, j), "%s", err)
				}
			}
		}
	}
	if d := c.Applied.Digest; d != "" && !isDigest(d) {
		bad("/applied/digest", "not a SHA-256 digest in hex")
	}
	if len(c.Objects) > MaxCheckinObjects {
		bad("/objects", "%d objects: at most %d", len(c.Objects), MaxCheckinObjects)
	} else {
		seen := map[wire.Ref]bool{}
		for i, o := range c.Objects {
			p := fmt.Sprintf("/objects/%d", i)
			text(p+"/kind", o.Kind, true)
			text(p+"/name", o.Name, true)
			text(p+"/message", o.Message, false)
			text(p+"/version", o.Version, false)
			if ref := (wire.Ref{Kind: o.Kind, Name: o.Name}); seen[ref] {
				bad(p, "%s %q is reported twice", o.Kind, o.Name)
			} else {
				seen[ref] = true
			}
			if !slices.Contains([]string{wire.StateApplied, wire.StateFailed, wire.StatePending}, o.State) {
				bad(p+"/state", "%q is not applied, failed or pending", o.State)
			}
			if o.Digest != "" && !isDigest(o.Digest) {
				bad(p+"/digest", "not a SHA-256 digest in hex")
			}
		}
	}
	if o := c.Outage; o != nil {
		if o.LostAt.IsZero() || o.RegainedAt.Before(o.LostAt) {
			bad("/outage", "lost-at is required and before regained-at")
		}
		if o.Restarts < 0 || o.Corrections < 0 || o.Restarts > math.MaxUint32 || o.Corrections > math.MaxUint32 {
			bad("/outage", "restarts and corrections are counts")
		}
		text("/outage/last-error", o.LastError, false)
	}
	if len(probs) > 0 {
		return &schema.Error{Kind: schema.KindInvalid, Message: "malformed check-in", Problems: probs}
	}
	return nil
}

// checkTaint checks a taint written key[=value]:Effect.
func checkTaint(t string) string {
	kv, effect, ok := strings.Cut(t, ":")
	if !ok || kv == "" || strings.HasPrefix(kv, "=") {
		return fmt.Sprintf("%q is not key[=value]:Effect", t)
	}
	if !slices.Contains([]string{"NoSchedule", "PreferNoSchedule", "NoExecute"}, effect) {
		return fmt.Sprintf("%q: the effect is NoSchedule, PreferNoSchedule or NoExecute", t)
	}
	return ""
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// fingerprint is a check-in's digest without its times (the agent's
// clock, each object's last check), which change at every check-in: two
// check-ins with the same fingerprint say the same thing.
func fingerprint(c *wire.Checkin, cred Credential) [32]byte {
	cc := struct {
		wire.Checkin
		Credential
	}{*c, cred}
	cc.AgentTime = time.Time{}
	cc.Objects = make([]wire.ObjectStatus, len(c.Objects))
	for i, o := range c.Objects {
		o.At = time.Time{}
		cc.Objects[i] = o
	}
	b, _ := json.Marshal(cc) // a decoded check-in always marshals
	return sha256.Sum256(b)
}

// Credential is the client certificate an agent checked in with, kept in
// its state (certificate-serial, certificate-not-after) so an operator sees
// which one it holds and when it expires; zero for a caller without one.
type Credential struct {
	Serial   string
	NotAfter time.Time
}

// Checkin records a check-in of cluster id's agent (checked by
// DecodeCheckin), presented with cred, and answers with the current desired state's index and
// digest. A check-in that says what the last recorded one said, from a
// connected agent whose clock moved less than skewStep, writes nothing:
// its time is kept in memory and in the metrics.
func (h *Hub) Checkin(ctx context.Context, id string, c *wire.Checkin, cred Credential) (ans *wire.CheckinAnswer, outcome string, err error) {
	ctx, span := tracer.Start(ctx, "edge.Checkin", trace.WithAttributes(attribute.String("amp.cluster", id)))
	defer func() {
		span.SetAttributes(attribute.String("amp.outcome", outcome))
		if err != nil {
			span.RecordError(err)
		}
		span.End()
	}()
	h.mu.Lock()
	e, err := h.lookup(id)
	if err != nil {
		h.mu.Unlock()
		h.m.checkins.WithLabelValues(CheckinRefused).Inc()
		return nil, CheckinRefused, err
	}
	now := h.opts.Now()
	skew := int64(math.Round(c.AgentTime.Sub(now).Seconds()))
	fp := fingerprint(c, cred)
	e.seen = now
	ans = &wire.CheckinAnswer{Desired: wire.Applied{Index: e.cur.index, Digest: e.cur.digest},
		Interval: wire.Duration(h.opts.Interval), ServerNow: now.UTC()}
	cl := e.c
	h.m.lastCheckin.WithLabelValues(cl.ID, cl.Site).Set(float64(now.UnixNano()) / 1e9)
	if e.connected && e.digest == fp && abs(skew-e.skew) < skewStep {
		h.mu.Unlock()
		h.m.checkins.WithLabelValues(CheckinUnchanged).Inc()
		return ans, CheckinUnchanged, nil
	}
	h.mu.Unlock()

	if err := h.record(ctx, cl.ID, c, cred, now, skew, ans.Desired); err != nil {
		h.m.checkins.WithLabelValues(CheckinRefused).Inc()
		return nil, CheckinRefused, err
	}
	h.mu.Lock()
	if !e.connected {
		h.log.Info("cluster agent connected", "cluster", cl.ID, "agent_version", c.AgentVersion, "clock_skew_seconds", skew)
	}
	e.connected, e.digest, e.skew, e.written = true, fp, skew, now
	h.m.setLink(e.c, true, now)
	h.mu.Unlock()
	h.m.checkins.WithLabelValues(CheckinRecorded).Inc()
	return ans, CheckinRecorded, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// record writes a check-in as the cluster's state: the facts as its
// report, in the declaration's terms, and the link as its agent state.
func (h *Hub) record(ctx context.Context, id string, c *wire.Checkin, cred Credential, now time.Time, skew int64, desired wire.Applied) error {
	if err := h.dir.Record(ctx, h.eng, id, "report", config.OpReplace, reportOf(c, now)); err != nil {
		return err
	}
	// The object list is always sent whole (empty too): a merge replaces
	// a list.
	objs := make([]any, 0, len(c.Objects))
	for _, o := range c.Objects {
		m := map[string]any{"kind": o.Kind, "name": o.Name, "state": o.State, "drift": o.Drift}
		if o.Message != "" {
			m["message"] = o.Message
		}
		if o.Ready != nil {
			m["ready"] = *o.Ready
		}
		if o.Version != "" {
			m["version"] = o.Version
		}
		if !o.At.IsZero() {
			m["at"] = stamp(o.At)
		}
		objs = append(objs, m)
	}
	agent := map[string]any{
		"connected": true, "last-seen": stamp(now), "agent-version": c.AgentVersion, "clock-skew-seconds": skew,
		"desired-index": desired.Index, "desired-digest": desired.Digest,
		"applied-index": c.Applied.Index, "applied-digest": c.Applied.Digest, "object": objs,
	}
	if cred.Serial != "" {
		agent["certificate-serial"], agent["certificate-not-after"] = cred.Serial, stamp(cred.NotAfter)
	}
	if o := c.Outage; o != nil {
		out := map[string]any{"lost-at": stamp(o.LostAt), "regained-at": stamp(o.RegainedAt), "restarts": o.Restarts, "corrections": o.Corrections}
		if o.LastError != "" {
			out["last-error"] = o.LastError
		}
		agent["last-outage"] = out
	}
	return h.dir.Record(ctx, h.eng, id, "agent", config.OpMerge, agent)
}

// reportOf is what a check-in says of the cluster, in the declaration's
// terms: nodes with their labels and taints as key=value[:Effect], the
// roles their node-role.kubernetes.io/ labels give, and readiness.
func reportOf(c *wire.Checkin, now time.Time) map[string]any {
	nodes := make([]any, 0, len(c.Facts.Nodes))
	for _, n := range c.Facts.Nodes {
		keys := make([]string, 0, len(n.Labels))
		for k := range n.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		labels := make([]any, 0, len(keys))
		var roles []any
		for _, k := range keys {
			labels = append(labels, k+"="+n.Labels[k])
			if r, ok := nodeRole(k); ok && !slices.Contains(roles, any(r)) {
				roles = append(roles, r)
			}
		}
		m := map[string]any{"name": n.Name, "ready": n.Ready}
		if len(labels) > 0 {
			m["node-label"] = labels
		}
		if len(n.Taints) > 0 {
			taints := make([]any, len(n.Taints))
			for i, t := range n.Taints {
				taints[i] = t
			}
			m["taint"] = taints
		}
		if len(roles) > 0 {
			m["role"] = roles
		}
		nodes = append(nodes, m)
	}
	rep := map[string]any{"reported-at": stamp(now)}
	if v := c.Facts.KubernetesVersion; v != "" {
		rep["kubernetes-version"] = v
	}
	if len(nodes) > 0 {
		rep["node"] = nodes
	}
	return rep
}

// nodeRole maps a node-role.kubernetes.io/<role> label to the
// declaration's roles (etcd, controlplane, worker).
func nodeRole(label string) (string, bool) {
	r, ok := strings.CutPrefix(label, "node-role.kubernetes.io/")
	switch {
	case !ok:
		return "", false
	case r == "control-plane" || r == "master" || r == "controlplane":
		return "controlplane", true
	case r == "etcd" || r == "worker":
		return r, true
	}
	return "", false
}
