package monitor

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/amp-edge/amp/internal/monitor/dashboards"
)

// The objects of the monitor set, read from an enterprise's tree (the
// engine's canonical values: strings, booleans, uint64, []any of entries).

// Rule is one alert-rule entry.
type Rule struct {
	ID, Alert, Expr, For, Severity string
	Sites                          []string
	Enabled                        bool
	Labels, Annotations            map[string]string
}

// Receiver is one receiver entry: a webhook, an e-mail or a
// Slack-compatible webhook.
type Receiver struct {
	ID           string
	WebhookURL   string
	Email        *Email
	Slack        *Slack
	SendResolved bool
}

// Slack is a receiver's Slack-compatible case: its URL is the
// enterprise's secret URLSecret.
type Slack struct{ URLSecret, Channel string }

// Email is a receiver's e-mail case.
type Email struct {
	To, From, Smarthost string
	RequireTLS          bool
}

// Route is one route entry.
type Route struct {
	ID                                       string
	Order                                    uint64
	Receiver                                 string
	Matchers                                 []Matcher
	GroupBy                                  []string
	GroupWait, GroupInterval, RepeatInterval string
	Continue                                 bool
}

// Matcher is a route's condition on one label.
type Matcher struct{ Label, Op, Value string }

// Alerting is an enterprise's alerting configuration.
type Alerting struct {
	Tenant    string
	Rules     []Rule
	Receivers []Receiver
	Routes    []Route
}

// ReadAlerting reads the alerting objects from an enterprise's tree of the
// monitor set (as config.Snapshot.Tree returns it).
func ReadAlerting(tenant string, tree map[string]any) Alerting {
	a := Alerting{Tenant: tenant}
	for _, e := range entries(tree, "alert-rule") {
		a.Rules = append(a.Rules, Rule{
			ID: str(e, "alert-rule-id"), Alert: str(e, "alert"), Expr: str(e, "expr"), For: str(e, "for"),
			Severity: strOr(e, "severity", "warning"), Enabled: boolOr(e, "enabled", true),
			Labels: pairs(e, "label"), Annotations: pairs(e, "annotation"), Sites: listOf(e, "site"),
		})
	}
	for _, e := range entries(tree, "receiver") {
		r := Receiver{ID: str(e, "receiver-id"), SendResolved: boolOr(e, "send-resolved", true)}
		if w, ok := e["webhook"].(map[string]any); ok {
			r.WebhookURL = str(w, "url")
		}
		if m, ok := e["email"].(map[string]any); ok {
			r.Email = &Email{To: str(m, "to"), From: str(m, "from"), Smarthost: str(m, "smarthost"), RequireTLS: boolOr(m, "require-tls", true)}
		}
		if m, ok := e["slack"].(map[string]any); ok {
			r.Slack = &Slack{URLSecret: str(m, "url-secret"), Channel: str(m, "channel")}
		}
		a.Receivers = append(a.Receivers, r)
	}
	for _, e := range entries(tree, "route") {
		r := Route{ID: str(e, "route-id"), Order: 100, Receiver: str(e, "receiver"), Continue: boolOr(e, "continue", false),
			GroupWait: str(e, "group-wait"), GroupInterval: str(e, "group-interval"), RepeatInterval: str(e, "repeat-interval")}
		if o, ok := e["order"].(uint64); ok {
			r.Order = o
		}
		for _, m := range entries(e, "matcher") {
			r.Matchers = append(r.Matchers, Matcher{Label: str(m, "label"), Op: strOr(m, "op", "="), Value: str(m, "value")})
		}
		r.GroupBy = listOf(e, "group-by")
		a.Routes = append(a.Routes, r)
	}
	slices.SortStableFunc(a.Routes, func(x, y Route) int {
		if x.Order != y.Order {
			return int(x.Order) - int(y.Order)
		}
		return strings.Compare(x.ID, y.ID)
	})
	return a
}

func entries(tree map[string]any, list string) []map[string]any {
	items, _ := tree[list].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// listOf reads a leaf-list of strings.
func listOf(m map[string]any, k string) []string {
	var out []string
	list, _ := m[k].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func strOr(m map[string]any, k, def string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return def
}

func boolOr(m map[string]any, k string, def bool) bool {
	if b, ok := m[k].(bool); ok {
		return b
	}
	return def
}

func pairs(e map[string]any, list string) map[string]string {
	out := map[string]string{}
	for _, p := range entries(e, list) {
		out[str(p, "name")] = str(p, "value")
	}
	return out
}

// Prometheus rule files (the format promtool check rules reads).

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name     string      `yaml:"name"`
	Interval string      `yaml:"interval,omitempty"`
	Rules    []ruleEntry `yaml:"rules"`
}

// The alert chain's defaults (docs/monitoring.md, "Alert latency"): a
// probe failure reaches a receiver within the rule's `for` plus the
// scrape of AMP's metrics, one evaluation and one group wait. Prometheus's
// own defaults (evaluation every minute, a 30 s group wait, new alerts of
// a group held up to 5 minutes) would add minutes; these keep the sum of
// the three under 10 s with a scrape of AMP every 5 s.
const (
	// RuleInterval is how often AMP's rule groups (the pack and each
	// enterprise's) are evaluated, whatever Prometheus's global
	// evaluation_interval.
	RuleInterval = "2s"
	// GroupWait is how long Alertmanager holds a new group's first
	// alert to batch it with others (routes may set their own).
	GroupWait = "2s"
	// GroupInterval is how long a group that has notified holds alerts
	// that join it: a second site failing while the first still fails.
	GroupInterval = "2s"
)

type ruleEntry struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// GroupName is the Prometheus rule group holding an enterprise's rules.
func GroupName(tenant string) string { return "amp/enterprise/" + tenant }

// packGroup is the predefined pack's rule group (pack.rules.yml).
const packGroup = "amp/pack"

// RenderRules renders an enterprise's enabled rules as a Prometheus rule
// file of one group, each expression restricted to the enterprise's
// series and each alert labelled with the enterprise (so an aggregation
// that drops the label still routes to it, and label_replace cannot
// forge another's). An error names the rule; the commit checks refuse
// such a rule first, so it is not expected here.
func RenderRules(a Alerting) ([]byte, error) {
	g := ruleGroup{Name: GroupName(a.Tenant), Interval: RuleInterval}
	for _, r := range a.Rules {
		if !r.Enabled {
			continue
		}
		expr, err := Restrict(r.Expr, a.Tenant, r.Sites...)
		if err != nil {
			return nil, fmt.Errorf("alert-rule %s: %w", r.ID, err)
		}
		labels := map[string]string{}
		for k, v := range r.Labels {
			labels[k] = v
		}
		labels["severity"] = r.Severity
		labels[TenantLabel] = a.Tenant
		labels["amp_rule"] = r.ID
		e := ruleEntry{Alert: r.Alert, Expr: expr, For: r.For, Labels: labels}
		if len(r.Annotations) > 0 {
			e.Annotations = r.Annotations
		}
		g.Rules = append(g.Rules, e)
	}
	if len(g.Rules) == 0 {
		return nil, nil
	}
	return yaml.Marshal(ruleFile{Groups: []ruleGroup{g}})
}

// Alertmanager configuration (the format amtool check-config reads).

type amConfig struct {
	Route     amRoute      `yaml:"route"`
	Receivers []amReceiver `yaml:"receivers"`
}

type amRoute struct {
	Receiver       string    `yaml:"receiver,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Continue       bool      `yaml:"continue,omitempty"`
	Routes         []amRoute `yaml:"routes,omitempty"`
}

type amReceiver struct {
	Name     string      `yaml:"name"`
	Webhooks []amWebhook `yaml:"webhook_configs,omitempty"`
	Emails   []amEmail   `yaml:"email_configs,omitempty"`
	Slacks   []amSlack   `yaml:"slack_configs,omitempty"`
}

type amSlack struct {
	APIURLFile   string `yaml:"api_url_file"`
	Channel      string `yaml:"channel,omitempty"`
	SendResolved bool   `yaml:"send_resolved"`
}

type amWebhook struct {
	URL          string `yaml:"url"`
	SendResolved bool   `yaml:"send_resolved"`
}

type amEmail struct {
	To           string `yaml:"to"`
	From         string `yaml:"from"`
	Smarthost    string `yaml:"smarthost"`
	RequireTLS   bool   `yaml:"require_tls"`
	SendResolved bool   `yaml:"send_resolved"`
}

// OperatorReceiver takes every alert no enterprise route takes: the
// predefined pack's alerts about AMP itself, and an enterprise's alerts
// that match none of its routes.
const OperatorReceiver = "amp-operator"

// ReceiverName is an enterprise receiver's name in Alertmanager: the
// enterprise's id, '/', the receiver's (ids hold no '/', so names of two
// enterprises never clash).
func ReceiverName(tenant, id string) string { return tenant + "/" + id }

// SecretFile is where the Alertmanager configuration expects an
// enterprise's secret (api_url_file), under dir.
func SecretFile(dir, tenant, id string) string { return filepath.Join(dir, tenant+"."+id) }

// AMOptions are what the Alertmanager configuration takes besides the
// enterprises' objects.
type AMOptions struct {
	// OperatorWebhook receives what no enterprise route takes ("": nowhere).
	OperatorWebhook string
	// SecretsDir holds the secret files the configuration names.
	SecretsDir string
	// HasSecret tells whether an enterprise's secret is set: a
	// Slack-compatible receiver whose secret is not is rendered without
	// its configuration (its notifications are dropped), and named in
	// Missing.
	HasSecret func(tenant, id string) bool
}

// RenderAlertmanager renders the Alertmanager configuration of every
// enterprise's receivers and routes. The root route sends to the
// operator's receiver; each enterprise's routes sit under a route
// matching only alerts labelled with the enterprise, so they never see
// another's alerts. missing names the receivers whose secret is not set.
func RenderAlertmanager(all []Alerting, o AMOptions) (body []byte, missing []string, err error) {
	op := amReceiver{Name: OperatorReceiver}
	if o.OperatorWebhook != "" {
		op.Webhooks = []amWebhook{{URL: o.OperatorWebhook, SendResolved: true}}
	}
	cfg := amConfig{
		Route: amRoute{Receiver: OperatorReceiver, GroupBy: []string{"alertname", TenantLabel},
			GroupWait: GroupWait, GroupInterval: GroupInterval},
		Receivers: []amReceiver{op},
	}
	for _, a := range all {
		for _, r := range a.Receivers {
			rc := amReceiver{Name: ReceiverName(a.Tenant, r.ID)}
			if r.WebhookURL != "" {
				rc.Webhooks = []amWebhook{{URL: r.WebhookURL, SendResolved: r.SendResolved}}
			}
			if r.Email != nil {
				rc.Emails = []amEmail{{To: r.Email.To, From: r.Email.From, Smarthost: r.Email.Smarthost, RequireTLS: r.Email.RequireTLS, SendResolved: r.SendResolved}}
			}
			if r.Slack != nil {
				if o.HasSecret != nil && o.HasSecret(a.Tenant, r.Slack.URLSecret) {
					rc.Slacks = []amSlack{{APIURLFile: SecretFile(o.SecretsDir, a.Tenant, r.Slack.URLSecret), Channel: r.Slack.Channel, SendResolved: r.SendResolved}}
				} else {
					missing = append(missing, fmt.Sprintf("%s (secret %q is not set)", rc.Name, r.Slack.URLSecret))
				}
			}
			cfg.Receivers = append(cfg.Receivers, rc)
		}
		if len(a.Routes) == 0 {
			continue
		}
		sub := amRoute{Matchers: []string{matcher(TenantLabel, "=", a.Tenant)}}
		for _, r := range a.Routes {
			ar := amRoute{Receiver: ReceiverName(a.Tenant, r.Receiver), GroupBy: r.GroupBy, GroupWait: r.GroupWait,
				GroupInterval: r.GroupInterval, RepeatInterval: r.RepeatInterval, Continue: r.Continue}
			for _, m := range r.Matchers {
				ar.Matchers = append(ar.Matchers, matcher(m.Label, m.Op, m.Value))
			}
			sub.Routes = append(sub.Routes, ar)
		}
		cfg.Route.Routes = append(cfg.Route.Routes, sub)
	}
	body, err = yaml.Marshal(cfg)
	return body, missing, err
}

// matcher writes one Alertmanager matcher, the value quoted (Alertmanager
// reads Go's escapes \", \\ and \n in a quoted value).
func matcher(label, op, value string) string {
	return label + op + strconv.Quote(value)
}

// ReadDashboards reads an enterprise's dashboards (its monitor tree) by
// id: those declaring panels as dashboards.Dashboard, the others' Grafana
// model as it is stored.
func ReadDashboards(tree map[string]any) (declared map[string]dashboards.Dashboard, models map[string]string) {
	declared, models = map[string]dashboards.Dashboard{}, map[string]string{}
	for _, e := range entries(tree, "dashboard") {
		id := str(e, "dashboard-id")
		panels := entries(e, "panel")
		if len(panels) == 0 {
			models[id] = str(e, "model")
			continue
		}
		d := dashboards.Dashboard{ID: id, Title: str(e, "title")}
		for _, v := range entries(e, "variable") {
			d.Variables = append(d.Variables, dashboards.Variable{Name: str(v, "name"), Label: str(v, "name"), Metric: str(v, "metric"), LabelName: str(v, "label")})
		}
		for _, p := range panels {
			kind := strOr(p, "kind", dashboards.KindTimeseries)
			lang := dashboards.PromQL
			if kind == dashboards.KindLogs {
				lang = dashboards.LogQL
			}
			d.Panels = append(d.Panels, dashboards.Panel{Name: str(p, "name"), Title: str(p, "title"), Kind: kind, Language: lang, Query: str(p, "query"),
				Unit: str(p, "unit"), Legend: str(p, "legend")})
		}
		declared[id] = d
	}
	return declared, models
}
