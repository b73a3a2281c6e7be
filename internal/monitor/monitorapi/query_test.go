package monitorapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// TestQueryForm: only Prometheus's own parameters are passed on, the
// timeout bounded and defaulted; each bound is refused naming its
// parameter.
func TestQueryForm(t *testing.T) {
	in := url.Values{"query": {"up"}, "time": {"1700000000.5"}, "enterprise": {"acme"}, "lookback_delta": {"1h"}}
	out, timeout, err := queryForm(in, false)
	if err != nil || timeout != defaultTimeout || out.Encode() != "query=up&time=1700000000.5&timeout=30s" {
		t.Fatalf("queryForm = %v, %v, %v", out.Encode(), timeout, err)
	}
	out, timeout, err = queryForm(url.Values{"query": {"up"}, "start": {"2026-12-07T15:00:00Z"}, "end": {"1796659200"}, "step": {"1m"}, "timeout": {"90"}}, true)
	if err != nil || timeout != 90*time.Second || out.Get("step") != "1m" || out.Get("timeout") != "1m30s" {
		t.Fatalf("range queryForm = %v, %v, %v", out.Encode(), timeout, err)
	}
	// 11,000 points exactly is allowed, one more is not.
	if _, _, err := queryForm(url.Values{"query": {"up"}, "start": {"0"}, "end": {"11000"}, "step": {"1"}}, true); err != nil {
		t.Fatalf("11000 points: %v", err)
	}
	for _, c := range []struct {
		in     url.Values
		ranged bool
		path   string
	}{
		{url.Values{"query": {"  "}}, false, "?query"},
		{url.Values{"query": {strings.Repeat("x", maxQuery+1)}}, false, "?query"},
		{url.Values{"query": {"up"}, "timeout": {"0s"}}, false, "?timeout"},
		{url.Values{"query": {"up"}, "timeout": {"121"}}, false, "?timeout"},
		{url.Values{"query": {"up"}, "timeout": {"NaN"}}, false, "?timeout"},
		{url.Values{"query": {"up"}, "time": {"Inf"}}, false, "?time"},
		{url.Values{"query": {"up"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}}, true, "?step"},
		{url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}, "step": {"-1"}}, true, "?step"},
		{url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}, "step": {"1e300"}}, true, "?step"},
		{url.Values{"query": {"up"}, "end": {"10"}, "step": {"1"}}, true, "?start"},
		{url.Values{"query": {"up"}, "start": {"10"}, "end": {"then"}, "step": {"1"}}, true, "?end"},
		{url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, true, "?end"},
	} {
		_, _, err := queryForm(c.in, c.ranged)
		var se *schema.Error
		if err == nil || !asSchemaError(err, &se) || se.Kind != schema.KindInvalid || se.Problems[0].Path != c.path {
			t.Errorf("queryForm(%.80v) = %v, want 400 naming %s", c.in, err, c.path)
		}
	}
}

func asSchemaError(err error, se **schema.Error) bool {
	e, ok := err.(*schema.Error)
	*se = e
	return ok
}

// TestEnterprisesOf: the enterprises a caller reads as admin or member,
// once each; other roles name none.
func TestEnterprisesOf(t *testing.T) {
	p := &auth.Principal{Name: "x", Rights: []auth.Right{
		{Role: auth.RoleEnterpriseMember, Enterprise: "starbucks"},
		{Role: auth.RoleEnterpriseAdmin, Enterprise: "acme"},
		{Role: auth.RoleEnterpriseMember, Enterprise: "acme"},
		{Role: auth.RoleStateWriter},
	}}
	if got := strings.Join(enterprisesOf(p), ","); got != "acme,starbucks" {
		t.Fatalf("enterprisesOf = %s", got)
	}
	if got := enterprisesOf(&auth.Principal{Name: "op", Rights: []auth.Right{{Role: auth.RoleOperator}}}); len(got) != 0 || enterprisesOf(nil) != nil {
		t.Fatalf("an operator's enterprises = %v", got)
	}
}

// TestLookupForm: a tenant's lookup is restricted to its series — each
// selector given the enterprise matcher, one added when there is none —
// and what is not a series selector, another enterprise, or too many
// selectors are refused naming ?match[].
func TestLookupForm(t *testing.T) {
	out, _, err := lookupForm(url.Values{"limit": {"10"}, "start": {"0"}}, "acme", false)
	if err != nil || out.Get("match[]") != `{enterprise="acme"}` || out.Get("limit") != "10" || out.Get("start") != "0" {
		t.Fatalf("lookupForm = %v, %v", out, err)
	}
	out, _, err = lookupForm(url.Values{"match[]": {`{__name__=~".+"}`, "up"}}, "acme", true)
	if err != nil || strings.Join(out["match[]"], " ") != `{__name__=~".+",enterprise="acme"} up{enterprise="acme"}` {
		t.Fatalf("lookupForm = %v, %v", out, err)
	}
	// An operator's lookup goes as written.
	if out, _, err := lookupForm(url.Values{}, "", false); err != nil || len(out["match[]"]) != 0 {
		t.Fatalf("the operator's lookupForm = %v, %v", out, err)
	}
	many := url.Values{}
	for range maxMatchers + 1 {
		many.Add("match[]", "up")
	}
	for _, c := range []struct {
		in   url.Values
		kind schema.Kind
		path string
	}{
		{url.Values{}, schema.KindInvalid, "?match[]"}, // series need a selector
		{many, schema.KindInvalid, "?match[]"},
		{url.Values{"match[]": {"sum(up)"}}, schema.KindInvalid, "?match[]"},
		{url.Values{"match[]": {`{enterprise="starbucks"}`}}, schema.KindForbidden, "?match[]"},
		{url.Values{"match[]": {`up{enterprise=~"acme|starbucks"}`}}, schema.KindForbidden, "?match[]"},
		{url.Values{"match[]": {"up"}, "limit": {"-1"}}, schema.KindInvalid, "?limit"},
		{url.Values{"match[]": {"up"}, "end": {"soon"}}, schema.KindInvalid, "?end"},
	} {
		_, _, err := lookupForm(c.in, "acme", true)
		var se *schema.Error
		if err == nil || !asSchemaError(err, &se) || se.Kind != c.kind || se.Problems[0].Path != c.path {
			t.Errorf("lookupForm(%.80v) = %v, want kind %v naming %s", c.in, err, c.kind, c.path)
		}
	}
}

// TestTakesGzip: the central answer passes through compressed only to a
// caller that names gzip without refusing it.
func TestTakesGzip(t *testing.T) {
	for _, c := range []struct {
		values []string
		want   bool
	}{
		{[]string{"gzip"}, true},
		{[]string{"deflate, GZIP;q=0.5"}, true},
		{[]string{"br", "gzip"}, true},
		{nil, false},
		{[]string{"identity"}, false},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.0, br"}, false},
		{[]string{"*"}, false},
		{[]string{"x-gzip"}, false},
	} {
		if got := takesGzip(c.values); got != c.want {
			t.Errorf("takesGzip(%q) = %v, want %v", c.values, got, c.want)
		}
	}
}
