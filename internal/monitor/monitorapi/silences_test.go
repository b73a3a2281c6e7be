package monitorapi

import (
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/monitor"
)

// TestSilenceOf: a silence made for an enterprise always carries its
// equality matcher; a client's matcher on the label, a bad name, a
// silence without a reason or an end, or one ending in the past or too
// late are refused naming the member.
func TestSilenceOf(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	sil, err := silenceOf(silenceRequest{Matchers: []monitor.SilenceMatcher{{Name: "alertname", Value: "X"}}, Duration: "2h", Comment: "why"}, "acme", now)
	if err != nil || !sil.Of("acme") || sil.Of("starbucks") || len(sil.Matchers) != 2 || !sil.EndsAt.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("silenceOf = %+v, %v", sil, err)
	}
	past := now.Add(-time.Hour)
	for _, c := range []struct {
		req  silenceRequest
		path string
	}{
		{silenceRequest{Matchers: []monitor.SilenceMatcher{{Name: "enterprise", Value: "starbucks"}}, Duration: "1h", Comment: "x"}, "/matchers/0/name"},
		{silenceRequest{Matchers: []monitor.SilenceMatcher{{Name: "a", Value: "b"}, {Name: "0bad", Value: "b"}}, Duration: "1h", Comment: "x"}, "/matchers/1/name"},
		{silenceRequest{Duration: "1h"}, "/comment"},
		{silenceRequest{Comment: "x"}, "/duration"},
		{silenceRequest{Comment: "x", Duration: "1h", EndsAt: &later}, "/duration"},
		{silenceRequest{Comment: "x", Duration: "soon"}, "/duration"},
		{silenceRequest{Comment: "x", EndsAt: &past}, "/endsAt"},
		{silenceRequest{Comment: "x", Duration: "31d"}, "/endsAt"},
	} {
		if _, err := silenceOf(c.req, "acme", now); err == nil || !strings.Contains(err.Error(), c.path) {
			t.Errorf("silenceOf(%+v) = %v, want a refusal at %s", c.req, err, c.path)
		}
	}
}
