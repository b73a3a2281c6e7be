package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/fleet"
)

var weekdays = map[string]time.Weekday{"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday,
	"Wed": time.Wednesday, "Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday}

// inWindow reports whether the partition after one of stage may start at
// now: inside an allowed window (when any is declared) and in no blackout,
// in the stage's time zone. Otherwise it says why, in words.
func inWindow(stage fleet.Stage, now time.Time) (bool, string) {
	loc, err := time.LoadLocation(stage.TimeZone)
	if err != nil {
		return false, fmt.Sprintf("time zone %q unknown", stage.TimeZone)
	}
	t := now.In(loc)
	for _, w := range stage.Blackout {
		if matchWindow(w, t) {
			return false, fmt.Sprintf("blackout window %q (%s; now %s)", w, stage.TimeZone, t.Format("Mon 15:04"))
		}
	}
	if len(stage.Allowed) == 0 {
		return true, ""
	}
	for _, w := range stage.Allowed {
		if matchWindow(w, t) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("outside the allowed window(s) %s (%s; now %s)", strings.Join(stage.Allowed, ", "), stage.TimeZone, t.Format("Mon 15:04"))
}

// matchWindow reports whether t is in w, "Mon-Fri 09:00-17:00" (the YANG
// pattern has checked its form): its day among the days, its time of day
// in [start, end).
func matchWindow(w string, t time.Time) bool {
	days, hours, _ := strings.Cut(w, " ")
	start, end, _ := strings.Cut(hours, "-")
	if !dayIn(days, t.Weekday()) {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	return m >= minutes(start) && m < minutes(end)
}

func dayIn(days string, d time.Weekday) bool {
	for _, r := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(r, "-")
		a, b := weekdays[from], weekdays[from]
		if isRange {
			b = weekdays[to]
		}
		for x := a; ; x = (x + 1) % 7 { // a range wraps: Fri-Mon
			if x == d {
				return true
			}
			if x == b {
				break
			}
		}
	}
	return false
}

func minutes(hhmm string) int {
	var h, m int
	fmt.Sscanf(hhmm, "%d:%d", &h, &m)
	return h*60 + m
}
