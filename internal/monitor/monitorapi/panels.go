package monitorapi

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/monitor/dashboards"
	"github.com/amp-edge/amp/internal/schema"
)

// Panels (docs/monitoring.md, "Dashboards in the portal"): a dashboard's
// panels as JSON with its variables filled in, for the portal's native
// charts, which run each panel's query through GET /metrics/query_range,
// /metrics/query or /logs. The scope is the queries' own (queryScope):
// ?enterprise= names the enterprise whose dashboards — its own, which
// shadow the predefined of the same id, and the predefined — are read,
// and whose series the queries will see; an operator without it reads
// the predefined, whose queries then see every enterprise's series.

// panelsPath is the routes' path. Outside any enterprise, the policy is
// asked about queryPath: the predefined dashboards are then read to query
// every enterprise's series, which is that right (the default policy:
// operators only).
const panelsPath = "/monitor/panels"

// Bounds of GET /monitor/panels/{id}.
const (
	defaultPanelRange = time.Hour
	maxPanelRange     = 366 * 24 * time.Hour
	maxPanelVars      = 16
	maxPanelVarBytes  = 256
	panelPoints       = 120 // a graph's points when no step is given, as the portal asks
)

func panelRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET " + panelsPath, Name: "monitor-panels", Handler: listPanels},
		{Pattern: "GET " + panelsPath + "/{id}", Name: "monitor-panels", Handler: getPanels},
	}
}

// panelDashboard is one dashboard as GET /monitor/panels/{id} answers it.
type panelDashboard struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Source: "predefined", or "enterprise" for one the enterprise declares.
	Source     string          `json:"source"`
	Enterprise string          `json:"enterprise,omitempty"`
	Range      int64           `json:"range"` // seconds: $__range
	Step       int64           `json:"step"`  // seconds: $__interval, the step a graph asks for
	Variables  []panelVariable `json:"variables"`
	Panels     []panelEntry    `json:"panels"`
}

type panelVariable struct {
	Name   string `json:"name"`
	Label  string `json:"label,omitempty"`
	Metric string `json:"metric,omitempty"`
	Values string `json:"label-name"` // the label whose values it offers
	// Value is what the request gave (?var-NAME=); absent: All.
	Value *string `json:"value,omitempty"`
}

type panelEntry struct {
	Name     string `json:"name,omitempty"`
	Title    string `json:"title"`
	Kind     string `json:"kind"`     // timeseries, stat or logs
	Language string `json:"language"` // promql or logql
	Query    string `json:"query"`    // as declared, variables as $name
	Expr     string `json:"expr"`     // with the variables filled in: what to send
	Unit     string `json:"unit,omitempty"`
	Legend   string `json:"legend,omitempty"`
}

// scopedDashboards are the dashboards the scope's enterprise declares
// beside the predefined (tenant "": none, the predefined only), those
// kept as a Grafana model apart: they have no panels.
func scopedDashboards(h compat.Host, tenant string) (declared map[string]dashboards.Dashboard, models map[string]string) {
	if tenant == "" {
		return map[string]dashboards.Dashboard{}, map[string]string{}
	}
	return stored(h, tenant)
}

// listPanels serves GET /monitor/panels?enterprise=: the dashboards the
// portal may show in the scope, as GET /monitor/dashboards/{enterprise}
// lists them.
func listPanels(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return schema.Errorf(schema.KindInvalid, "?", "the parameters do not parse: %v", err)
	}
	tenant, err := queryScope(h, r, queryPath, "dashboards")
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, dashboardList(scopedDashboards(h, tenant)))
}

// getPanels serves GET /monitor/panels/{id}?enterprise=&range=&step=&var-NAME=.
func getPanels(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	_, span := tracer.Start(r.Context(), "dashboards.panels")
	defer span.End()
	if err := r.ParseForm(); err != nil {
		return schema.Errorf(schema.KindInvalid, "?", "the parameters do not parse: %v", err)
	}
	tenant, err := queryScope(h, r, queryPath, "dashboards")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	span.SetAttributes(attribute.String("amp.dashboard", id), attribute.String("amp.enterprise", tenant))
	vals, err := panelValues(r.Form)
	if err != nil {
		return err
	}
	declared, models := scopedDashboards(h, tenant)
	out := panelDashboard{ID: id, Source: "enterprise", Enterprise: tenant, Range: int64(vals.Range / time.Second), Step: int64(vals.Step / time.Second),
		Variables: []panelVariable{}, Panels: []panelEntry{}}
	d, ok := declared[id]
	switch _, model := models[id]; {
	case ok:
	case model:
		// a Grafana model as it is: nothing AMP can chart, said so
		return schema.Errorf(schema.KindInvalid, panelsPath+"/"+schema.EscapeSegment(id),
			"the dashboard %q is kept as a Grafana model, not as panels AMP shows: export it (GET /monitor/dashboards/%s/%s/grafana)", id, tenant, id)
	default:
		if d, ok = dashboards.Predefined[id]; !ok {
			ids := slices.Concat(dashboards.PredefinedIDs(), slices.Sorted(maps.Keys(declared)))
			return schema.Errorf(schema.KindNotFound, panelsPath+"/"+schema.EscapeSegment(id), "no dashboard %q: those with panels here are %s", id, strings.Join(ids, ", "))
		}
		out.Source = "predefined"
	}
	out.Title, out.Description = d.Title, d.Description
	for _, v := range d.Variables {
		pv := panelVariable{Name: v.Name, Label: v.Label, Metric: v.Metric, Values: v.LabelName}
		if val, ok := vals.Vars[v.Name]; ok {
			pv.Value = &val
		}
		out.Variables = append(out.Variables, pv)
	}
	for _, p := range d.Panels {
		out.Panels = append(out.Panels, panelEntry{Name: p.Name, Title: p.Title, Kind: p.Kind, Language: p.Language, Query: p.Query,
			Expr: vals.Fill(p.Query), Unit: p.Unit, Legend: p.Legend})
	}
	return h.WriteJSON(w, http.StatusOK, out)
}

// varName is a variable's name as ?var-NAME= gives it (a label name).
var varName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// panelValues reads range and step (seconds) and the variables
// (?var-NAME=value, Grafana's URL form); a parameter it does not know is
// refused, so a misspelt one is not silently All.
func panelValues(form map[string][]string) (dashboards.Values, error) {
	v := dashboards.Values{Vars: map[string]string{}, Range: defaultPanelRange}
	for key, list := range form {
		name, isVar := strings.CutPrefix(key, "var-")
		switch {
		case key == "enterprise" || key == "range" || key == "step":
			continue
		case !isVar:
			return v, schema.Errorf(schema.KindInvalid, "?"+key, "not a parameter of this route: enterprise, range, step and var-NAME are")
		case !varName.MatchString(name) || strings.HasPrefix(name, "__"):
			return v, schema.Errorf(schema.KindInvalid, "?"+key, "%q is not a variable's name (a label name not starting with __)", name)
		case len(list) != 1 || len(list[0]) > maxPanelVarBytes:
			return v, schema.Errorf(schema.KindInvalid, "?"+key, "one value of at most %d bytes", maxPanelVarBytes)
		case len(v.Vars) == maxPanelVars:
			return v, schema.Errorf(schema.KindInvalid, "?"+key, "at most %d variables", maxPanelVars)
		}
		v.Vars[name] = list[0]
	}
	secs := func(key string, def, limit time.Duration) (time.Duration, error) {
		list := form[key]
		if len(list) == 0 || list[0] == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(list[0], 10, 64)
		if err != nil || n < 1 || time.Duration(n)*time.Second > limit {
			return 0, schema.Errorf(schema.KindInvalid, "?"+key, "%q is not a whole number of seconds from 1 to %d", list[0], int64(limit/time.Second))
		}
		return time.Duration(n) * time.Second, nil
	}
	var err error
	if v.Range, err = secs("range", defaultPanelRange, maxPanelRange); err != nil {
		return v, err
	}
	v.Step, err = secs("step", max(time.Second, (v.Range+panelPoints*time.Second-1)/(panelPoints*time.Second)*time.Second), v.Range)
	return v, err
}
