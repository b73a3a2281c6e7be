// Package logship ships JSON log lines to a log store over Loki's push
// API (POST /loki/api/v1/push, JSON body), so that a Loki, a VictoriaLogs
// (/insert/loki/api/v1/push) or any store that takes Loki's pushes can
// receive them unchanged (docs/logging.md, "Shipping").
//
// A Shipper is the io.Writer a telemetry logger writes to besides
// stderr: it batches lines into streams by their labels (the fixed ones
// it was given and each line's component), bounded in lines and bytes,
// and sends a batch at least every FlushEvery. A batch the sink cannot
// deliver is written to the spool directory and resent, oldest first,
// before anything newer; the spool is bounded, and when full the oldest
// batches are dropped and counted (amp_log_dropped_lines_total), never
// silently, as is a batch the receiver refuses as it is (ErrRefused).
// Logging never waits for the sink.
//
// It imports the standard library and the Prometheus client only, so the
// edge agent links it (it sits under internal/telemetry, which the agent
// may import).
package logship

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Push is Loki's push body (JSON form).
type Push struct {
	Streams []Stream `json:"streams"`
}

// Stream is one stream of a push: its labels and its lines, each
// [unix-nanoseconds as a decimal string, line].
type Stream struct {
	Labels map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// Lines is how many lines p carries.
func (p *Push) Lines() int {
	n := 0
	for _, s := range p.Streams {
		n += len(s.Values)
	}
	return n
}

// LabelKey is a stream's labels as one comparable string.
func LabelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, l[k])
	}
	return b.String()
}

// Limits of a push AMP relays for an agent.
const (
	MaxPushBody    = 8 << 20 // bytes
	MaxLineBytes   = 64 << 10
	MaxLabelLength = 128
)

// DecodePush reads a push body and checks it: each stream's labels are
// among allowed (nil: any), each value a [ns, line] pair of bounded
// size. The error names the member and the reason.
func DecodePush(body []byte, allowed map[string]bool) (*Push, error) {
	var p Push
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("/: not a Loki push body: %w", err)
	}
	for i, s := range p.Streams {
		for k, v := range s.Labels {
			if allowed != nil && !allowed[k] {
				return nil, fmt.Errorf("/streams/%d/stream/%s: label not allowed here (allowed: %s)", i, k, strings.Join(sortedKeys(allowed), ", "))
			}
			if len(v) > MaxLabelLength || len(k) > MaxLabelLength {
				return nil, fmt.Errorf("/streams/%d/stream/%s: longer than %d bytes", i, k, MaxLabelLength)
			}
		}
		for j, v := range s.Values {
			if len(v[1]) > MaxLineBytes {
				return nil, fmt.Errorf("/streams/%d/values/%d: line longer than %d bytes", i, j, MaxLineBytes)
			}
			if v[0] == "" || strings.TrimLeft(v[0], "0123456789") != "" {
				return nil, fmt.Errorf("/streams/%d/values/%d/0: %q is not a Unix time in nanoseconds", i, j, v[0])
			}
		}
	}
	return &p, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
