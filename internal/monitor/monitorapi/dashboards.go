package monitorapi

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/monitor/dashboards"
	"github.com/amp-edge/amp/internal/schema"
)

// dashboardRoutes export dashboards as Grafana dashboard JSON — the
// enterprise's own (the monitor set's dashboard list), which shadow the
// predefined of the same id, and the predefined — for an
// enterprise's Grafana to import with AMP as its data source (whose
// answers are restricted to that enterprise, so the same dashboard serves
// every enterprise).
func dashboardRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /monitor/dashboards/{enterprise}", Name: "monitor-dashboards", Handler: listDashboards},
		{Pattern: "GET /monitor/dashboards/{enterprise}/{id}/grafana", Name: "monitor-dashboards", Handler: exportDashboard},
	}
}

func dashboardsPath(ent string) string { return "/monitor/dashboards/" + schema.EscapeSegment(ent) }

// enterprise asks the policy for the action on the monitor configuration
// (the newest monitor set's root) of the enterprise the path names, and
// returns it; another enterprise answers as a missing one does, at the
// path where(ent).
func enterprise(h compat.Host, r *http.Request, action auth.Action, where func(string) string) (string, error) {
	ent := r.PathValue("enterprise")
	if err := h.Authorize(r, action, schema.RESTBase(h.Schema().Set(monitor.SetName, ""))+"/"+schema.EscapeSegment(ent)); err != nil {
		return "", err
	}
	if !h.Engine().Snapshot().TargetExists(ent) {
		return "", schema.Errorf(schema.KindNotFound, where(ent), "no enterprise %q", ent)
	}
	return ent, nil
}

// dashboardEntry is one dashboard in the list.
type dashboardEntry struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Panels      int    `json:"panels"`
}

// stored reads the enterprise's dashboards from the monitor set.
func stored(h compat.Host, ent string) (map[string]dashboards.Dashboard, map[string]string) {
	snap := h.Engine().Snapshot()
	tree, _ := snap.Tree(snap.RootObject(h.Schema().Set(monitor.SetName, ""), ent))
	return monitor.ReadDashboards(tree)
}

// listDashboards lists the predefined dashboards, then the enterprise's
// own (a Grafana model stored as it is counts no panels).
func listDashboards(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, err := enterprise(h, r, auth.Read, dashboardsPath)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, dashboardList(stored(h, ent)))
}

// dashboardList lists the predefined dashboards the declared ones do not
// shadow, then the declared, then those kept as a Grafana model.
func dashboardList(declared map[string]dashboards.Dashboard, models map[string]string) []dashboardEntry {
	out := []dashboardEntry{}
	for _, id := range dashboards.PredefinedIDs() {
		_, own := declared[id]
		_, model := models[id]
		if !own && !model {
			d := dashboards.Predefined[id]
			out = append(out, dashboardEntry{ID: d.ID, Title: d.Title, Description: d.Description, Panels: len(d.Panels)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(declared)) {
		out = append(out, dashboardEntry{ID: id, Title: declared[id].Title, Panels: len(declared[id].Panels)})
	}
	for _, id := range slices.Sorted(maps.Keys(models)) {
		out = append(out, dashboardEntry{ID: id})
	}
	return out
}

func exportDashboard(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, err := enterprise(h, r, auth.Read, dashboardsPath)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	declared, models := stored(h, ent)
	var b []byte
	if d, ok := declared[id]; ok {
		b, err = dashboards.Grafana(d)
	} else if m, ok := models[id]; ok {
		b = []byte(m) // checked at commit: a JSON object
	} else if d, ok := dashboards.Predefined[id]; ok {
		b, err = dashboards.Grafana(d)
	} else {
		return schema.Errorf(schema.KindNotFound, dashboardsPath(ent)+"/"+schema.EscapeSegment(id),
			"no dashboard %q: the enterprise declares none of that id and the predefined are %s", id, strings.Join(dashboards.PredefinedIDs(), ", "))
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="amp-`+id+`.json"`)
	_, err = w.Write(b)
	return err
}
