package monitor

import (
	"strings"
	"testing"
)

func TestLogQuerySubsetTranslates(t *testing.T) {
	for in, want := range map[string]string{
		`{cluster="ace-x"}`: `{cluster="ace-x"}`,
		`{cluster="ace-x", component=~"helm|agent"} |= "a.b" != "retry" |~ "time(out)?" !~ "^x"`: `{cluster="ace-x",component=~"helm|agent"} ~"a\\.b" !~"retry" ~"time(out)?" !~"^x"`,
		"{site=`s1`} |= `say \"hi\" | stats`":                                                    `{site="s1"} ~"say \"hi\" \\| stats"`,
	} {
		q, err := ParseLogQuery(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := q.LogsQL(); got != want {
			t.Errorf("%s\n got %s\nwant %s", in, got, want)
		}
	}
}

func TestLogQueryRefusesWhatItDoesNotSupport(t *testing.T) {
	for in, reason := range map[string]string{
		`rate({cluster="x"}[5m])`:            "starts with a stream selector",
		`{cluster="x"} | json`:               "only line filters",
		`{cluster="x"} | level="error"`:      "only line filters",
		`{pod="x"}`:                          `label "pod" is not one of AMP's log labels`,
		`{cluster="x"`:                       "want , or }",
		`{cluster=~"(x"}`:                    "cluster=~",
		`{cluster="x"} |= "unterminated`:     "unterminated",
		`{cluster="x"} |= "a" or {site="y"}`: "only line filters",
		`{cluster="x"} |~ "[a-"`:             "|~",
		`{cluster="x"} |= "a" |= "b" |= "c" ` + strings.Repeat(`|= "d" `, 20): "at most 16 line filters",
	} {
		_, err := ParseLogQuery(in)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want an error saying %q", in, err, reason)
		}
	}
}

func TestLogQueryUnboundedRefused(t *testing.T) {
	for _, in := range []string{`{}`, `{cluster=~".*"}`, `{cluster!="x"}`, `{cluster=""}`, `{site!~"a"}`} {
		q, err := ParseLogQuery(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if q.Bounded() == "" {
			t.Errorf("%s scans every stream but was not refused", in)
		}
	}
	q, _ := ParseLogQuery(`{cluster=~"ace-.+"}`)
	if why := q.Bounded(); why != "" {
		t.Errorf("a regex that needs a value was refused: %s", why)
	}
}

// TestLogQueryRestrictHostile: as acme, no query reaches another
// enterprise's streams: a matcher naming the enterprise otherwise is
// refused, and every accepted query ends with enterprise="acme".
func TestLogQueryRestrictHostile(t *testing.T) {
	refused := []string{
		`{enterprise="bigcorp"}`,
		`{enterprise=~"acme|bigcorp"}`,
		`{enterprise=~".*"}`,
		`{enterprise!="acme"}`,
		`{enterprise!~"acme"}`,
		`{cluster="x", enterprise="acme", enterprise="bigcorp"}`,
		`{enterprise="acme\"} | {enterprise=\"bigcorp"}`,
	}
	for _, in := range refused {
		q, err := ParseLogQuery(in)
		if err != nil {
			continue // refused before: as good
		}
		if err := q.Restrict("acme"); err == nil {
			t.Errorf("%s: accepted for acme as %s", in, q.LogsQL())
		}
	}
	for _, in := range []string{`{cluster="ace-x"}`, `{cluster=~".+"} |= "enterprise=\"bigcorp\""`, `{enterprise="acme", site="s1"}`, `{component="helm"} |= "} or {"`} {
		q, err := ParseLogQuery(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if err := q.Restrict("acme"); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got := q.LogsQL()
		sel := got[:strings.Index(got, "}")+1]
		if !strings.Contains(sel, `enterprise="acme"`) || strings.Count(got, "{") != 1+strings.Count(in, "{")-1 {
			t.Errorf("%s became %s: its stream selector is not confined to acme", in, got)
		}
	}
}
