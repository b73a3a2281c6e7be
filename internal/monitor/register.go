package monitor

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/controller"
)

// flags are amp serve's monitor flags; a rules directory or an
// Alertmanager configuration enables the adapter.
var flags Config

// webhookEgress is --alert-webhook-allow: what an enterprise's receivers
// may reach beyond public addresses, checked at commit on every replica
// (so it is not part of the adapter's Config).
var webhookEgress Egress

func init() {
	component.Register(component.Adapter{
		Name: "monitor",
		Flags: func(f *pflag.FlagSet) {
			f.StringVar(&flags.RulesDir, "prometheus-rules-dir", "", "`DIR` AMP writes the monitor set's Prometheus rule files to (Prometheus's rule_files must include DIR/*.yml); needs --prometheus-url (docs/monitoring.md)")
			f.StringVar(&flags.PrometheusURL, "prometheus-url", "", "`URL` of the Prometheus that reads --prometheus-rules-dir, e.g. http://127.0.0.1:9090: AMP reloads it (POST /-/reload, so it runs with --web.enable-lifecycle) and reads the rules back")
			f.StringVar(&flags.AlertmanagerConfig, "alertmanager-config", "", "`FILE` AMP writes the Alertmanager configuration to (receivers and routes of every enterprise); needs --alertmanager-url")
			f.StringVar(&flags.AlertmanagerURL, "alertmanager-url", "", "`URL` of the Alertmanager that reads --alertmanager-config, e.g. http://127.0.0.1:9093: AMP reloads it, reads its configuration back, and sends it the silences made through AMP")
			f.StringVar(&flags.Promtool, "promtool", "", "`PATH` of promtool: every rule file is checked with promtool check rules before it is written, and not written if refused (empty: AMP's own checks at commit only), e.g. /usr/bin/promtool")
			f.StringVar(&flags.Amtool, "amtool", "", "`PATH` of amtool: the Alertmanager configuration is checked with amtool check-config before it is written, and not written if refused, e.g. /usr/bin/amtool")
			f.StringVar(&logStore.push, "log-push-url", "", "`URL` of a log store's Loki push endpoint AMP ships its own logs and its agents' to, e.g. http://127.0.0.1:9428/insert/loki/api/v1/push (VictoriaLogs, run with -loki.disableMessageParsing) or http://loki:3100/loki/api/v1/push (docs/logging.md)")
			f.StringVar(&logStore.query, "log-query-url", "", "`URL` of the VictoriaLogs that GET /logs queries (LogsQL at /select/logsql/query), e.g. http://127.0.0.1:9428")
			f.Var(&webhookEgress, "alert-webhook-allow", "address, CIDR prefix or host name an enterprise's receivers (webhook, Slack-compatible, e-mail smarthost) may reach although it is loopback, private, link-local or cloud metadata, which are refused at commit by default; repeatable or comma-separated, e.g. 10.20.0.0/16,hooks.corp.example")
			f.StringVar(&flags.OperatorWebhook, "alertmanager-operator-webhook", "", "webhook `URL` of the operator's receiver, which takes the alerts no enterprise route takes (empty: they go nowhere)")
		},
		Enabled: func() bool { return flags.RulesDir != "" || flags.AlertmanagerConfig != "" },
		New: func(env component.Env) (controller.Adapter, func(), error) {
			cfg := flags
			cfg.Secrets = &Secrets{Meta: env.Engine.Meta()}
			ad, err := New(env.Schema, cfg, NewMetrics(env.Metrics))
			if err != nil {
				return nil, nil, err
			}
			ctx, stop := context.WithCancel(context.Background())
			go ad.Watch(ctx)
			return ad, stop, nil
		},
	})
}

// logStore is where logs go (--log-push-url) and are read back from
// (--log-query-url).
var logStore struct{ push, query string }

// LogPushURL is --log-push-url ("" when not given).
func LogPushURL() string { return logStore.push }

// LogQueryURL is --log-query-url ("" when not given), without a trailing /.
func LogQueryURL() string { return strings.TrimRight(logStore.query, "/") }

// AlertmanagerURL is --alertmanager-url ("" when not given), where the
// silences made through AMP go.
func AlertmanagerURL() string { return flags.AlertmanagerURL }

// PrometheusURL is --prometheus-url ("" when not given): the central
// Prometheus that the metric queries made through AMP go to.
func PrometheusURL() string { return strings.TrimRight(flags.PrometheusURL, "/") }
