package rollout

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/fleet"
)

// TestPartition: percentages take ⌈N% of the group⌉ of what is left, in
// order; label partitions take those carrying the labels; what none takes
// is returned (unmatched), never dropped.
func TestPartition(t *testing.T) {
	labels := map[string]map[string]string{}
	var members []string
	for i := range 10 {
		c := fmt.Sprintf("c%02d", i)
		members = append(members, c)
		labels[c] = map[string]string{"zone": []string{"east", "west"}[i%2]}
	}
	labels["c09"]["zone"] = "north"
	show := func(ps []Partition) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+":"+strings.Join(p.Clusters, ","))
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		specs           []string
		want, unmatched string
	}{
		{nil, "all:c00,c01,c02,c03,c04,c05,c06,c07,c08,c09", ""},
		{[]string{"25%", "50%"}, "25%:c00,c01,c02 50%:c03,c04,c05,c06,c07", "c08,c09"},
		{[]string{"10%", "100%"}, "10%:c00 100%:c01,c02,c03,c04,c05,c06,c07,c08,c09", ""},
		{[]string{"zone=east", "zone=west"}, "zone=east:c00,c02,c04,c06,c08 zone=west:c01,c03,c05,c07", "c09"},
		{[]string{"zone=west,zone=west", "50%"}, "zone=west,zone=west:c01,c03,c05,c07 50%:c00,c02,c04,c06,c08", "c09"},
	}
	for _, c := range cases {
		ps, rest := partition(members, c.specs, labels)
		if got := show(ps); got != c.want || strings.Join(rest, ",") != c.unmatched {
			t.Errorf("%v: %s unmatched %v, want %s unmatched %s", c.specs, got, rest, c.want, c.unmatched)
		}
	}
}

// TestMaxUnavailable: never the whole partition of several clusters.
func TestMaxUnavailable(t *testing.T) {
	for _, c := range []struct{ max, n, want int }{{1, 1, 1}, {1, 5, 1}, {3, 5, 3}, {5, 5, 4}, {9, 2, 1}} {
		if got := maxUnavailable(fleet.Stage{MaxUnavailable: c.max}, c.n); got != c.want {
			t.Errorf("max-unavailable %d of %d: %d at once, want %d", c.max, c.n, got, c.want)
		}
	}
}

// TestWindow: allowed and blackout windows in the stage's zone; day
// ranges wrap; the end is excluded.
func TestWindow(t *testing.T) {
	berlin := fleet.Stage{TimeZone: "Europe/Berlin", Allowed: []string{"Mon-Fri 09:00-18:00"}, Blackout: []string{"Fri 17:00-24:00"}}
	wrap := fleet.Stage{TimeZone: "UTC", Allowed: []string{"Fri-Mon 00:00-24:00"}}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	cases := []struct {
		st   fleet.Stage
		at   string
		open bool
		why  string
	}{
		{berlin, "2026-12-07T09:00:00Z", true, ""},                     // Monday 10:00 in Berlin
		{berlin, "2026-12-07T07:59:00Z", false, "outside the allowed"}, // Monday 08:59 in Berlin
		{berlin, "2026-12-11T15:59:00Z", true, ""},                     // Friday 16:59 in Berlin
		{berlin, "2026-12-11T16:00:00Z", false, "blackout"},            // Friday 17:00 in Berlin: not 5pm on a Friday
		{berlin, "2026-12-07T17:00:00Z", false, "outside"},             // Monday 18:00: the end is excluded
		{wrap, "2026-12-13T12:00:00Z", true, ""},                       // Sunday
		{wrap, "2026-12-09T12:00:00Z", false, "outside"},               // Wednesday
		{fleet.Stage{TimeZone: "UTC"}, "2026-12-09T12:00:00Z", true, ""},
	}
	for _, c := range cases {
		open, why := inWindow(c.st, at(c.at))
		if open != c.open || !strings.Contains(why, c.why) {
			t.Errorf("%v at %s: open %v (%s), want %v (%s)", c.st.Allowed, c.at, open, why, c.open, c.why)
		}
	}
}
