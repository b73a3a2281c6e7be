package monitor

import (
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/monitor/dashboards"
)

// TestPanelQuery: a panel's query is refused at commit with the reason —
// PromQL that does not parse or names another enterprise; LogQL outside
// AMP's subset, naming another enterprise, or unbounded with its
// variables at All — and every predefined panel passes the same check
// that a declared one must.
func TestPanelQuery(t *testing.T) {
	for _, c := range []struct{ kind, query, why string }{
		{"timeseries", `sum(up`, "not a valid PromQL query"},
		{"stat", `up{enterprise="starbucks"}`, "starbucks"},
		{"logs", `site="acme-chicago"`, "starts with a stream selector"},
		{"logs", `{site="x"} | json`, "only line filters"},
		{"logs", `{level="error"}`, `"level" is not one of AMP's log labels`},
		{"logs", `{site=~"$site"}`, "unbounded with its variables at All"},
		{"logs", `{site=~".*", component!="agent"}`, "unbounded"},
		{"logs", `{site="$site", enterprise="starbucks"}`, `your streams are enterprise="acme" only`},
	} {
		if why := PanelQuery(c.kind, c.query, "acme"); !strings.Contains(why, c.why) {
			t.Errorf("%s panel %s: %q, want a refusal with %q", c.kind, c.query, why, c.why)
		}
	}
	for _, q := range []string{`{site="$site"} |= "timeout"`, `{cluster=~"ace-.*", component="agent"}`, `{site="$site", enterprise="acme"}`} {
		if why := PanelQuery("logs", q, "acme"); why != "" {
			t.Errorf("logs panel %s refused: %s", q, why)
		}
	}
	for _, id := range dashboards.PredefinedIDs() {
		for _, p := range dashboards.Predefined[id].Panels {
			if why := PanelQuery(p.Kind, p.Query, "acme"); why != "" {
				t.Errorf("predefined %s, panel %s: %s", id, p.Name, why)
			}
		}
	}
}
