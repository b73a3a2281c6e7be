package monitorapi

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestMergeSiteAnswers: the central answer's series are kept as they are,
// a site's are given its cluster and site labels where they lack them
// (a label the series has is kept), warnings of the sources are named by
// source, and a site that gave no answer is a warning naming it.
func TestMergeSiteAnswers(t *testing.T) {
	a := siteTarget{cluster: "edge-a", site: "site-a"}
	b := siteTarget{cluster: "edge-b", site: "site-b"}
	status, body, err := merge([]sourceAnswer{
		{status: 200, body: []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"amp"},"value":[1,"1"]}]}}`)},
		{site: &a, status: 200, body: []byte(`{"status":"success","warnings":["slow"],"data":{"resultType":"vector","result":[{"metric":{"job":"agent"},"value":[1,"2"]},{"metric":{"job":"x","site":"own"},"value":[1,"3"]}]}}`)},
		{site: &b, warning: "did not answer within 10s"},
	}, &queryCombiner{})
	if err != nil || status != 200 {
		t.Fatalf("merge: %d %v", status, err)
	}
	var got struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Status != "success" || got.Data.ResultType != "vector" || len(got.Data.Result) != 3 {
		t.Fatalf("merged: %s", body)
	}
	if m := got.Data.Result[0].Metric; m["cluster"] != "" || m["site"] != "" {
		t.Errorf("the central series was given site labels: %v", m)
	}
	if m := got.Data.Result[1].Metric; m["cluster"] != "edge-a" || m["site"] != "site-a" || m["job"] != "agent" {
		t.Errorf("site-a's series: %v", m)
	}
	if m := got.Data.Result[2].Metric; m["cluster"] != "edge-a" || m["site"] != "own" {
		t.Errorf("site-a's series with its own site label: %v", m)
	}
	if w := strings.Join(got.Warnings, "\n"); !strings.Contains(w, "site site-a (cluster edge-a): slow") || !strings.Contains(w, "site site-b (cluster edge-b): did not answer within 10s") {
		t.Errorf("warnings: %q", got.Warnings)
	}

	// The query refused by Prometheus (bad_data) is its answer as it is.
	refusal := `{"status":"error","errorType":"bad_data","error":"parse error"}`
	status, body, err = merge([]sourceAnswer{{status: 400, body: []byte(refusal)}, {site: &a, status: 400, body: []byte(refusal)}}, &queryCombiner{})
	if err != nil || status != 400 || string(body) != refusal {
		t.Fatalf("refusal: %d %s %v", status, body, err)
	}
	// No source answered: an error naming each.
	_, _, err = merge([]sourceAnswer{{warning: "did not answer"}, {site: &b, warning: "its agent is not connected"}}, &queryCombiner{})
	var none errNoAnswer
	if !errors.As(err, &none) || !strings.Contains(err.Error(), "site-b") {
		t.Fatalf("no answer: %v", err)
	}
	// A scalar is kept from the first source; the others' are named.
	_, body, _ = merge([]sourceAnswer{
		{status: 200, body: []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"5"]}}`)},
		{site: &a, status: 200, body: []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`)},
	}, &queryCombiner{})
	if !strings.Contains(string(body), `"result":[1,"5"]`) || !strings.Contains(string(body), "site site-a (cluster edge-a): its scalar is not merged") {
		t.Fatalf("scalars: %s", body)
	}
}

// TestForSite: the cluster= and site= matchers a site's labels match are
// dropped for its Prometheus (its series lack them: AMP adds them), those
// they do not match keep only series that carry the label themselves, and
// the enterprise's matcher is kept as it is.
func TestForSite(t *testing.T) {
	b := siteTarget{cluster: "edge-b", site: "site-b"}
	for in, want := range map[string]string{
		`sum(x{cluster="edge-b",enterprise="acme"})`:                      `sum(x{enterprise="acme"})`,
		`x{cluster=~"edge-.*",site="site-b"}`:                             `x`,
		`x{cluster!="edge-b"}`:                                            `x{cluster!="",cluster!="edge-b"}`,
		`x{cluster="edge-a"} or y{site="site-b",enterprise="acme"}`:       `x{cluster!="",cluster="edge-a"} or y{enterprise="acme"}`,
		`rate(x{site!~"site-.*",cluster="edge-b",enterprise="acme"}[5m])`: `rate(x{enterprise="acme",site!="",site!~"site-.*"}[5m])`,
		// An operator's selector of all edge-b's series stays one.
		`{cluster="edge-b"}`: `{__name__=~".+"}`,
	} {
		got, err := forSite(in, b)
		if err != nil || got != want {
			t.Errorf("forSite(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// TestMergeLookups: series, label names and label values of the central
// Prometheus and the sites are one deduplicated, sorted list, a site's
// series labelled as a query's are; a site holding series adds the
// cluster and site label names, and its own cluster as a value of
// cluster when its series lack the label; a limit cuts the merged list
// with Prometheus's warning.
func TestMergeLookups(t *testing.T) {
	a := siteTarget{cluster: "edge-a", site: "site-a"}
	b := siteTarget{cluster: "edge-b", site: "site-b"}
	ok := func(data string) []byte { return []byte(`{"status":"success","data":` + data + `}`) }
	data := func(t *testing.T, body []byte) (string, []string) {
		t.Helper()
		var pa promAnswer
		if err := json.Unmarshal(body, &pa); err != nil || pa.Status != "success" {
			t.Fatalf("%v: %s", err, body)
		}
		return string(pa.Data), pa.Warnings
	}

	_, body, err := merge([]sourceAnswer{
		{status: 200, body: ok(`[{"__name__":"up","job":"amp"}]`)},
		{site: &b, status: 200, body: ok(`[{"__name__":"x","site":"own"},{"__name__":"up","job":"agent"}]`)},
		{site: &a, status: 200, body: ok(`[{"__name__":"up","job":"agent"},{"__name__":"up","job":"agent"}]`)},
	}, combinerFor("/api/v1/series", "", 0))
	if got, _ := data(t, body); err != nil || got != `[{"__name__":"up","cluster":"edge-a","job":"agent","site":"site-a"},{"__name__":"up","cluster":"edge-b","job":"agent","site":"site-b"},{"__name__":"up","job":"amp"},{"__name__":"x","cluster":"edge-b","site":"own"}]` {
		t.Errorf("series: %s %v", got, err)
	}

	_, body, _ = merge([]sourceAnswer{
		{status: 200, body: ok(`["__name__","job"]`)},
		{site: &a, status: 200, body: ok(`["__name__","slot"]`)},
		{site: &b, status: 200, body: ok(`[]`)},
	}, combinerFor("/api/v1/labels", "", 0))
	if got, _ := data(t, body); got != `["__name__","cluster","job","site","slot"]` {
		t.Errorf("labels: %s", got)
	}

	_, body, _ = merge([]sourceAnswer{
		{status: 200, body: ok(`[]`)},
		{site: &a, status: 200, body: ok(`[]`), lacks: true},
		{site: &b, status: 200, body: ok(`["own"]`)},
	}, combinerFor("/api/v1/label/cluster/values", ClusterLabel, 0))
	if got, _ := data(t, body); got != `["edge-a","own"]` {
		t.Errorf("cluster values: %s", got)
	}

	_, body, _ = merge([]sourceAnswer{
		{status: 200, body: ok(`["b","c"]`)},
		{site: &a, status: 200, body: ok(`["a","b"]`)},
		{site: &b, warning: "did not answer within 10s"},
	}, combinerFor("/api/v1/label/job/values", "job", 2))
	if got, ws := data(t, body); got != `["a","b"]` || strings.Join(ws, "\n") != "site site-b (cluster edge-b): did not answer within 10s\n"+truncated {
		t.Errorf("limited values: %s %q", got, ws)
	}
}

// TestSiteQueriesOfLookups: a lookup's match[] selectors are rewritten for the
// site; the values of cluster or site also ask which series lack it.
func TestSiteQueriesOfLookups(t *testing.T) {
	b := siteTarget{cluster: "edge-b", site: "site-b"}
	form := url.Values{"match[]": {`x{cluster="edge-b",enterprise="acme"}`}, "start": {"5"}}
	qs, err := siteQueries("/api/v1/label/cluster/values", ClusterLabel, form, b)
	if err != nil || len(qs) != 2 {
		t.Fatalf("%v %v", qs, err)
	}
	if form.Get("match[]") != `x{cluster="edge-b",enterprise="acme"}` {
		t.Errorf("the caller's form was rewritten (the central Prometheus's and the other sites'): %v", form)
	}
	if f, _ := url.ParseQuery(qs[0].Form); f.Get("match[]") != `x{enterprise="acme"}` || f.Get("start") != "5" || qs[0].API != "/api/v1/label/cluster/values" {
		t.Errorf("the lookup: %v", qs[0])
	}
	if f, _ := url.ParseQuery(qs[1].Form); f.Get("match[]") != `x{cluster="",enterprise="acme"}` || f.Get("start") != "5" || qs[1].API != "/api/v1/labels" {
		t.Errorf("the lacking ask: %v", qs[1])
	}
	qs, _ = siteQueries("/api/v1/label/cluster/values", ClusterLabel, url.Values{}, b)
	if f, _ := url.ParseQuery(qs[1].Form); len(qs) != 2 || f.Get("match[]") != `{__name__=~".+",cluster=""}` {
		t.Errorf("the operator's lacking ask: %v", qs)
	}
	if qs, _ := siteQueries("/api/v1/label/job/values", "job", url.Values{}, b); len(qs) != 1 {
		t.Errorf("job's values: %v", qs)
	}
}
