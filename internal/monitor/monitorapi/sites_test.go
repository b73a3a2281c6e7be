package monitorapi

import (
	"encoding/json"
	"errors"
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
	})
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
	status, body, err = merge([]sourceAnswer{{status: 400, body: []byte(refusal)}, {site: &a, status: 400, body: []byte(refusal)}})
	if err != nil || status != 400 || string(body) != refusal {
		t.Fatalf("refusal: %d %s %v", status, body, err)
	}
	// No source answered: an error naming each.
	_, _, err = merge([]sourceAnswer{{warning: "did not answer"}, {site: &b, warning: "its agent is not connected"}})
	var none errNoAnswer
	if !errors.As(err, &none) || !strings.Contains(err.Error(), "site-b") {
		t.Fatalf("no answer: %v", err)
	}
	// A scalar is kept from the first source; the others' are named.
	_, body, _ = merge([]sourceAnswer{
		{status: 200, body: []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"5"]}}`)},
		{site: &a, status: 200, body: []byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`)},
	})
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
	} {
		got, err := forSite(in, b)
		if err != nil || got != want {
			t.Errorf("forSite(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}
