package probes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// Bounds of a push: an agent sends one result at once after each run, or
// what it buffered while AMP was out of reach, in pushes of at most
// MaxPushResults; a body of MaxPushBody costs a bounded amount to read.
const (
	MaxPushBody    = 256 << 10
	MaxPushResults = 500
	maxText        = 1024
	maxName        = 63
	// maxDuration: no run lasts longer than the longest timeout (60 s)
	// with some slack; a larger figure is a broken agent.
	maxDuration = 600
)

// DecodePush reads a push body (known members only) and checks every
// result; a refusal names each bad member and why, in the API's terms,
// and nothing of the push is kept.
func DecodePush(body []byte) (*wire.ProbePush, error) {
	if len(body) > MaxPushBody {
		return nil, schema.Errorf(schema.KindTooLarge, "/", "a probe push is at most %d bytes", MaxPushBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p wire.ProbePush
	if err := dec.Decode(&p); err != nil {
		return nil, schema.Errorf(schema.KindInvalid, "/", "not a probe push ({\"results\": [...]}): %v", err)
	}
	if dec.More() {
		return nil, schema.Errorf(schema.KindInvalid, "/", "one JSON object expected, more follows")
	}
	var probs []schema.Problem
	bad := func(path, format string, args ...any) {
		if len(probs) < 20 {
			probs = append(probs, schema.Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
		}
	}
	switch {
	case p.Results == nil:
		bad("/results", "required: the results, oldest first")
	case len(p.Results) > MaxPushResults:
		bad("/results", "%d results: at most %d per push", len(p.Results), MaxPushResults)
	}
	if len(p.Results) <= MaxPushResults {
		for i, r := range p.Results {
			at := fmt.Sprintf("/results/%d", i)
			switch {
			case r.Probe == "":
				bad(at+"/probe", "required")
			case len(r.Probe) > maxName || !utf8.ValidString(r.Probe):
				bad(at+"/probe", "not a probe name (at most %d bytes of UTF-8)", maxName)
			}
			if !slices.Contains(wire.ProbeKinds, r.Kind) {
				bad(at+"/kind", "%q is not one of %v", r.Kind, wire.ProbeKinds)
			}
			if len(r.Target) > 255 || !utf8.ValidString(r.Target) {
				bad(at+"/target", "longer than 255 bytes or not UTF-8")
			}
			if r.Duration < 0 || r.Duration > maxDuration {
				bad(at+"/duration-seconds", "%v is not from 0 to %d seconds", r.Duration, maxDuration)
			}
			if r.At.IsZero() {
				bad(at+"/at", "required: when the agent ran the probe")
			} else if r.At.Year() < 2000 || r.At.After(time.Now().Add(24*time.Hour)) {
				bad(at+"/at", "%s is not a plausible time of a run", r.At.UTC().Format(time.RFC3339))
			}
			if len(r.Message) > maxText || !utf8.ValidString(r.Message) {
				bad(at+"/message", "longer than %d bytes or not UTF-8", maxText)
			}
		}
	}
	if len(probs) > 0 {
		return nil, &schema.Error{Kind: schema.KindInvalid, Message: "malformed probe push", Problems: probs}
	}
	return &p, nil
}
