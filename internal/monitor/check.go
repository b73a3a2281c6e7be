package monitor

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/monitor/dashboards"
	"github.com/amp-edge/amp/internal/schema"
)

// reservedLabels are set on every alert by AMP: a rule's own label of
// that name would be overwritten, so it is refused instead.
var reservedLabels = map[string]string{
	TenantLabel: "AMP sets it to the rule's enterprise",
	"severity":  "set the rule's severity leaf instead",
	"amp_rule":  "AMP sets it to the rule's id",
}

// check refuses, at commit, what Prometheus or Alertmanager would refuse
// (or read differently from what the user wrote), naming the object's
// path and the tool's reason: PromQL that does not parse or selects
// another enterprise's series, a duration Prometheus cannot read, a label
// AMP sets itself, a matcher's regular expression that does not compile,
// a webhook URL without a host or aimed at an address the egress policy
// refuses (egress.go), a dashboard model that is not a JSON object, a
// panel's query PanelQuery refuses. It runs per changed object, so its
// cost follows the change.
func check(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	for _, c := range changes {
		o := c.After
		if o == nil || o.Node == nil {
			continue
		}
		set, ok := setOfKey(tx.Schema(), o.Key)
		if !ok {
			continue
		}
		path := schema.RESTPathOfKey(set, o.Key, nil, false, o.Node)
		bad := func(leaf, format string, args ...any) { report(false, path+"/"+leaf, fmt.Sprintf(format, args...)) }
		switch o.Node.Name {
		case "alert-rule":
			if expr, ok := o.Data["expr"].(string); ok {
				if _, err := Restrict(expr, set.TenantOfKey(o.Key)); err != nil {
					bad("expr", "not a valid rule expression: %v", err)
				}
			}
			durations(o.Data, bad, "for")
		case "label":
			if name, ok := o.Data["name"].(string); ok && reservedLabels[name] != "" && o.Node.Parent != nil && o.Node.Parent.Name == "alert-rule" {
				bad("name", "the label %q is reserved: %s", name, reservedLabels[name])
			}
		case "route":
			durations(o.Data, bad, "group-wait", "group-interval", "repeat-interval")
		case "matcher":
			op, _ := o.Data["op"].(string)
			if v, ok := o.Data["value"].(string); ok && (op == "=~" || op == "!~") {
				if _, err := regexp.Compile("^(?:" + v + ")$"); err != nil {
					bad("value", "not a regular expression Alertmanager can read: %v", err)
				}
			}
		case "receiver":
			if w, ok := o.Data["webhook"].(map[string]any); ok {
				if s, ok := w["url"].(string); ok {
					if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
						bad("webhook/url", "%q is not an http:// or https:// URL with a host", s)
					} else if why := webhookEgress.CheckURL(s); why != "" {
						bad("webhook/url", "%s", why)
					}
				}
			}
			if m, ok := o.Data["email"].(map[string]any); ok {
				if s, ok := m["smarthost"].(string); ok {
					if why := webhookEgress.CheckSmarthost(s); why != "" {
						bad("email/smarthost", "%s", why)
					}
				}
			}
		case "panel":
			if q, ok := o.Data["query"].(string); ok {
				if why := PanelQuery(strOr(o.Data, "kind", dashboards.KindTimeseries), q, set.TenantOfKey(o.Key)); why != "" {
					bad("query", "%s", why)
				}
			}
		case "dashboard":
			if m, ok := o.Data["model"].(string); ok {
				var obj map[string]any
				if err := json.Unmarshal([]byte(m), &obj); err != nil || obj == nil {
					bad("model", "the dashboard model must be a JSON object: %v", jsonReason(err))
				}
			}
		}
	}
}

func jsonReason(err error) string {
	if err == nil {
		return "found another JSON value"
	}
	return err.Error()
}

// durations checks duration leaves with Prometheus's own parser (the YANG
// pattern admits units in any order; Prometheus wants them largest first).
func durations(data map[string]any, bad func(leaf, format string, args ...any), leaves ...string) {
	for _, l := range leaves {
		if s, ok := data[l].(string); ok {
			if _, err := model.ParseDuration(s); err != nil {
				bad(l, "not a Prometheus duration: %v", err)
			}
		}
	}
}

// setOfKey returns the monitor set a storage key belongs to.
func setOfKey(sch *schema.Schema, key string) (*schema.ModelSet, bool) {
	name, rest, _ := strings.Cut(key, "/")
	if name != SetName {
		return nil, false
	}
	version, _, _ := strings.Cut(rest, "/")
	set := sch.Set(SetName, version)
	return set, set != nil
}

// PanelQuery says why a dashboard panel's query is refused, or "": the
// variables are filled in as Grafana sends them at All (what an export
// shows by default), then a PromQL query (timeseries, stat) must parse
// and select the tenant's series only; a LogQL query (logs) must be
// AMP's LogQL subset, name no other enterprise's streams, and be bounded
// as written — the enterprise's own label, which AMP adds, is no bound:
// a selector every stream of the enterprise matches would read them all.
func PanelQuery(kind, query, tenant string) string {
	q := dashboards.Sample(query)
	if kind != dashboards.KindLogs {
		if _, err := Restrict(q, tenant); err != nil {
			return fmt.Sprintf("not a valid PromQL query (variables filled in as Grafana would): %v", err)
		}
		return ""
	}
	lq, err := ParseLogQuery(q)
	if err != nil {
		return fmt.Sprintf("not a LogQL query AMP answers (variables filled in as Grafana would, at All): %v", err)
	}
	if why := lq.Bounded(); why != "" {
		return fmt.Sprintf("unbounded with its variables at All (.*): %s", why)
	}
	if err := lq.Restrict(tenant); err != nil {
		return err.Error()
	}
	return ""
}
