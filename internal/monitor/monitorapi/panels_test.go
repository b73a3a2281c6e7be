package monitorapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	_ "github.com/amp-edge/amp/internal/aether/rocapi"
	"github.com/amp-edge/amp/internal/api/rest"
	"github.com/amp-edge/amp/internal/auth"
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	_ "github.com/amp-edge/amp/internal/fleet/fleetapi"
	_ "github.com/amp-edge/amp/internal/fleet/sealapi"
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
	"github.com/amp-edge/amp/internal/policy"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
	"github.com/amp-edge/amp/internal/testenv"
)

type panelsAnswer struct {
	ID, Title, Source, Enterprise string
	Range, Step                   int64
	Variables                     []struct {
		Name  string
		Value *string
	}
	Panels []struct{ Name, Kind, Language, Query, Expr string }
}

// TestPanelsRoute drives GET /monitor/panels and /monitor/panels/{id}
// over HTTP on the demo engine with the real policy: the operator reads
// the predefined dashboards with no enterprise (queries over every
// enterprise's series), variables filled in as asked; acme's admin reads
// acme's own (shadowing the predefined of the same id) and the predefined;
// starbucks' member sees none of acme's, not even by naming acme; a
// misspelt or repeated parameter, a bad range and a Grafana model are
// refused naming the parameter or the dashboard.
func TestPanelsRoute(t *testing.T) {
	eng, st := testenv.Engine(t, true)
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewTokens(st)
	tok := map[string]string{}
	for who, groups := range map[string][]string{"operator": {"AetherROCAdmin"}, "alice": {"acme-admin"}, "mallory": {"starbucks"}} {
		if tok[who], _, err = tokens.Create(who, who, auth.RightsFromGroups(groups, true)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := rest.New(rest.Options{Engine: eng, Auth: tokens, Authorizer: pol, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	do := func(who, method, path, body string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+tok[who])
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s %s as %s: %d %s, want %d", method, path, body, who, resp.StatusCode, b, want)
		}
		return string(b)
	}
	get := func(who, path string) panelsAnswer {
		t.Helper()
		var a panelsAnswer
		if err := json.Unmarshal([]byte(do(who, "GET", path, "", 200)), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}

	// the operator: the predefined, no enterprise, variables as given
	a := get("operator", "/monitor/panels/edge-summary?var-site=acme-chicago&range=86400")
	if a.Source != "predefined" || a.Enterprise != "" || a.Range != 86400 || a.Step != 720 || len(a.Panels) != 6 ||
		a.Panels[0].Expr != `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"acme-chicago"}[86400s])) * 100` ||
		a.Panels[0].Query != `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"$site"}[$__range])) * 100` ||
		a.Variables[0].Value == nil || *a.Variables[0].Value != "acme-chicago" {
		t.Fatalf("the operator's edge summary: %+v", a)
	}
	// acme's admin: its own scope by default; a device group's variables
	a = get("alice", "/monitor/panels/device-group?var-site=acme-chicago&var-device_group=cameras&range=300&step=15")
	if a.Enterprise != "acme" || a.Step != 15 || a.Panels[4].Expr != `{site=~"acme-chicago",device_group=~"cameras",device_group=~".+",__name__!~"ALERTS.*"}` ||
		a.Panels[5].Kind != "logs" || a.Panels[5].Language != "logql" || a.Panels[5].Expr != `{site="acme-chicago"}` {
		t.Fatalf("acme's device group panels: %+v", a)
	}

	// acme declares "site" (shadowing the predefined) and a LogQL panel
	do("alice", "POST", "/monitor/v1.0.0/acme/dashboard/site", `{"title":"Acme sites","variable":[{"name":"site","metric":"amp_edge_probe_ok","label":"site"}],`+
		`"panel":[{"name":"up","title":"Up","query":"up{site=~\"$site\"}"},{"name":"errors","title":"Errors","kind":"logs","query":"{site=\"$site\"} |= \"error\""}]}`, 201)
	do("alice", "POST", "/monitor/v1.0.0/acme/dashboard/imported", `{"title":"Imported","model":"{\"panels\":[]}"}`, 201)
	a = get("alice", "/monitor/panels/site?var-site=acme-chicago")
	exprs := map[string]string{}
	for _, p := range a.Panels {
		exprs[p.Name] = p.Expr
	}
	if a.Source != "enterprise" || a.Title != "Acme sites" || len(a.Panels) != 2 || exprs["errors"] != `{site="acme-chicago"} |= "error"` || exprs["up"] != `up{site=~"acme-chicago"}` {
		t.Fatalf("acme's own site dashboard: %+v", a)
	}
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(do("alice", "GET", "/monitor/panels", "", 200)), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range list {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "cluster,device-group,edge-summary,slice,site,imported" {
		t.Fatalf("acme's dashboards: %v", ids)
	}
	if b := do("alice", "GET", "/monitor/panels/imported", "", 400); !strings.Contains(b, "Grafana model") {
		t.Fatalf("a Grafana model: %s", b)
	}

	// starbucks: the predefined only, acme's not even by name
	if a = get("mallory", "/monitor/panels/site"); a.Source != "predefined" || a.Enterprise != "starbucks" {
		t.Fatalf("starbucks' site dashboard: %+v", a)
	}
	do("mallory", "GET", "/monitor/panels/imported", "", 404)
	do("mallory", "GET", "/monitor/panels/site?enterprise=acme", "", 404)
	do("mallory", "GET", "/monitor/panels?enterprise=acme", "", 404)
	do("", "GET", "/monitor/panels/site", "", 401)

	for q, at := range map[string]string{
		"?rang=60":               "?rang",
		"?var-site=a&var-site=b": "?var-site",
		"?var-__range=1":         "?var-__range",
		"?range=0":               "?range",
		"?range=60&step=61":      "?step",
	} {
		if b := do("operator", "GET", "/monitor/panels/site"+q, "", 400); !strings.Contains(b, `"`+at+`"`) {
			t.Errorf("%s: %s, want a refusal at %s", q, b, at)
		}
	}
	if b := do("operator", "GET", "/monitor/panels/nope", "", 404); !strings.Contains(b, "edge-summary") {
		t.Errorf("an unknown dashboard: %s", b)
	}
}
