package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/schema"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/monitor")

// Config is where the rendered configuration goes (amp serve's flags).
type Config struct {
	// RulesDir receives one rule file per enterprise (amp-<id>.rules.yml)
	// and the pack (amp-pack.rules.yml); Prometheus's rule_files must
	// include RulesDir/*.yml. PrometheusURL is reloaded and read back.
	RulesDir, PrometheusURL string
	// AlertmanagerConfig is the configuration file Alertmanager reads;
	// AlertmanagerURL is reloaded and read back.
	AlertmanagerConfig, AlertmanagerURL string
	// Promtool and Amtool, when set, check every file before it is
	// written; a file they refuse is not shipped.
	Promtool, Amtool string
	// OperatorWebhook receives the alerts no enterprise route takes.
	OperatorWebhook string
	// Secrets are the enterprises' receiver secrets (nil: none can be
	// set, Slack-compatible receivers stay without configuration).
	Secrets *Secrets
	// Client talks to Prometheus and Alertmanager (nil: a client with a
	// 10 s timeout).
	Client *http.Client
}

// Adapter renders the monitor set and applies it to one Prometheus and
// one Alertmanager (controller.Adapter): each enterprise's rule file and
// the pack are objects of the Prometheus backend, the Alertmanager
// configuration the one object of the Alertmanager backend. A push is
// applied only when the file was checked, written atomically, reloaded,
// and the running server reads it back; anything less is an error the
// controller retries with backoff (and shows in /sync-status).
type Adapter struct {
	cfg Config
	sch *schema.Schema
	m   *Metrics

	mu      sync.Mutex
	changed chan struct{}        // closed when a secret changes (Trigger)
	digest  string               // of the secrets, when last checked
	files   map[string][2]string // secret files the last render names: enterprise, id
}

// New checks the configuration: each file needs the URL of the server
// that reads it, since nothing is reported applied that was not read back.
func New(sch *schema.Schema, cfg Config, m *Metrics) (*Adapter, error) {
	if (cfg.RulesDir == "") != (cfg.PrometheusURL == "") {
		return nil, errors.New("--prometheus-rules-dir and --prometheus-url go together: AMP reloads the Prometheus that reads the rules and reads them back")
	}
	if (cfg.AlertmanagerConfig == "") != (cfg.AlertmanagerURL == "") {
		return nil, errors.New("--alertmanager-config and --alertmanager-url go together: AMP reloads the Alertmanager that reads the file and reads it back")
	}
	if cfg.RulesDir != "" {
		if err := os.MkdirAll(cfg.RulesDir, 0o755); err != nil {
			return nil, fmt.Errorf("--prometheus-rules-dir: %w", err)
		}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	cfg.PrometheusURL = strings.TrimRight(cfg.PrometheusURL, "/")
	cfg.AlertmanagerURL = strings.TrimRight(cfg.AlertmanagerURL, "/")
	return &Adapter{cfg: cfg, sch: sch, m: m, changed: make(chan struct{})}, nil
}

// secretsDir holds the secret files, beside the Alertmanager
// configuration.
func (a *Adapter) secretsDir() string {
	return filepath.Join(filepath.Dir(a.cfg.AlertmanagerConfig), "amp-secrets")
}

// Changed implements controller.Trigger: secrets live outside the
// configuration, so a change of one is noticed by polling their digest
// (every second, on the replica running the adapter).
func (a *Adapter) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Watch polls the secrets' digest until ctx ends.
func (a *Adapter) Watch(ctx context.Context) {
	if a.cfg.Secrets == nil {
		return
	}
	if d, err := a.cfg.Secrets.digest(); err == nil {
		a.mu.Lock()
		a.digest = d
		a.mu.Unlock()
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := a.cfg.Secrets.digest()
		a.mu.Lock()
		if err == nil && d != a.digest {
			a.digest = d
			close(a.changed)
			a.changed = make(chan struct{})
		}
		a.mu.Unlock()
	}
}

// Name implements controller.Adapter.
func (a *Adapter) Name() string { return "monitor" }

// Watches implements controller.Watcher: the monitor set.
func (a *Adapter) Watches() []string { return []string{SetName + "/"} }

// The objects' ids: the pack, an enterprise's rules, the Alertmanager
// configuration.
const (
	packID         = "pack"
	alertmanagerID = "alertmanager"
)

func rulesID(tenant string) string { return "rules/" + tenant }

// ruleFile is where an object of the Prometheus backend is written.
func (a *Adapter) ruleFile(id string) string {
	if id == packID {
		return filepath.Join(a.cfg.RulesDir, "amp-pack.rules.yml")
	}
	return filepath.Join(a.cfg.RulesDir, "amp-enterprise-"+strings.TrimPrefix(id, "rules/")+".rules.yml")
}

// Render implements controller.Adapter.
func (a *Adapter) Render(snap *config.Snapshot) map[string]controller.Desired {
	out := map[string]controller.Desired{}
	set := a.sch.Set(SetName, "")
	if set == nil {
		return out
	}
	var all []Alerting
	var sources []string
	for _, t := range snap.Targets() {
		tenant := t.Key[strings.IndexByte(t.Key, '/')+1:]
		root := snap.RootObject(set, tenant)
		tree, _ := snap.Tree(root)
		al := ReadAlerting(tenant, tree)
		all = append(all, al)
		if len(al.Receivers)+len(al.Routes) > 0 {
			sources = append(sources, root.Key)
		}
		if a.cfg.RulesDir == "" {
			continue
		}
		d := controller.Desired{Backend: a.cfg.PrometheusURL, Sources: []string{root.Key}}
		body, err := RenderRules(al)
		if err != nil {
			d.Err = err.Error()
		} else if body == nil {
			continue // no enabled rule: no file
		}
		d.Body = body
		out[rulesID(tenant)] = d
	}
	if a.cfg.RulesDir != "" {
		out[packID] = controller.Desired{Backend: a.cfg.PrometheusURL, Body: Pack}
	}
	if a.cfg.AlertmanagerConfig != "" {
		out[alertmanagerID] = a.renderAlertmanager(all, sources)
	}
	return out
}

// renderAlertmanager renders the configuration and notes the secret
// files it names. A secret's value changes the body's first line (a
// digest of the values), so a changed secret is written again.
func (a *Adapter) renderAlertmanager(all []Alerting, sources []string) controller.Desired {
	d := controller.Desired{Backend: a.cfg.AlertmanagerURL, Sources: sources}
	files := map[string][2]string{}
	h := sha256.New()
	has := func(tenant, id string) bool {
		if a.cfg.Secrets == nil {
			return false
		}
		v, ok, err := a.cfg.Secrets.Get(tenant, id)
		if ok && err == nil {
			files[SecretFile(a.secretsDir(), tenant, id)] = [2]string{tenant, id}
			fmt.Fprintf(h, "%s\x00%s\x00%s\x00", tenant, id, v)
		}
		return ok && err == nil
	}
	body, missing, err := RenderAlertmanager(all, AMOptions{OperatorWebhook: a.cfg.OperatorWebhook, SecretsDir: a.secretsDir(), HasSecret: has})
	if err != nil {
		d.Err = err.Error()
	}
	if len(missing) > 0 {
		d.Degraded = "receivers without their secret drop their notifications: " + strings.Join(missing, ", ")
	}
	d.Body = append([]byte("# secrets: "+hex.EncodeToString(h.Sum(nil))[:16]+"\n"), body...)
	a.mu.Lock()
	a.files = files
	a.mu.Unlock()
	return d
}

// Push implements controller.Adapter: check, write, reload, read back.
func (a *Adapter) Push(ctx context.Context, id string, d controller.Desired) (err error) {
	ctx, span := tracer.Start(ctx, "monitor.apply", trace.WithAttributes(attribute.String("amp.object", id)))
	defer func() { endSpan(span, err) }()
	if id == alertmanagerID {
		if err := a.writeSecrets(); err != nil {
			return err
		}
		return a.apply(ctx, "alertmanager", a.cfg.AlertmanagerConfig, d.Body, a.cfg.Amtool, []string{"check-config"}, a.alertmanagerHolds(d.Body))
	}
	return a.apply(ctx, "prometheus", a.ruleFile(id), d.Body, a.cfg.Promtool, []string{"check", "rules"}, a.prometheusHolds(id, d.Body))
}

// Delete implements controller.Adapter: an enterprise's rule file, once
// it has no enabled rule (the Alertmanager configuration is always
// rendered, so it is never deleted).
func (a *Adapter) Delete(ctx context.Context, id, _ string) (err error) {
	ctx, span := tracer.Start(ctx, "monitor.delete", trace.WithAttributes(attribute.String("amp.object", id)))
	defer func() { endSpan(span, err) }()
	if id == alertmanagerID {
		return nil
	}
	if err := os.Remove(a.ruleFile(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return a.reload(ctx, "prometheus", a.cfg.PrometheusURL, func(ctx context.Context) error {
		held, err := a.Held(ctx, a.cfg.PrometheusURL)
		if err == nil && held[id] {
			err = fmt.Errorf("Prometheus still holds the rule group of %s after the reload", id)
		}
		return err
	})
}

// writeSecrets writes the secret files the configuration names (only
// Alertmanager's user may read them) and removes those it no longer
// names.
func (a *Adapter) writeSecrets() error {
	a.mu.Lock()
	files := a.files
	a.mu.Unlock()
	dir := a.secretsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for path, key := range files {
		v, ok, err := a.cfg.Secrets.Get(key[0], key[1])
		if err != nil {
			return err
		}
		if !ok {
			continue // deleted since the render: the next render drops it
		}
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(v), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := files[filepath.Join(dir, e.Name())]; !ok {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// apply checks body with the tool (if configured), writes it to path
// atomically (a temporary file beside it, renamed), reloads the server
// and waits until verify sees it. The tool's refusal is Terminal: the
// same file would be refused again.
func (a *Adapter) apply(ctx context.Context, target, path string, body []byte, tool string, args []string, verify func(context.Context) error) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return err
	}
	defer os.Remove(tmp) // after the rename there is nothing to remove
	if tool != "" {
		_, span := tracer.Start(ctx, "monitor.check", trace.WithAttributes(attribute.String("amp.tool", filepath.Base(tool))))
		out, err := exec.CommandContext(ctx, tool, append(args, tmp)...).CombinedOutput()
		span.End()
		if err != nil {
			a.m.refused.WithLabelValues(target).Inc()
			return controller.Terminal(fmt.Errorf("%s %s refused the rendered file: %s", filepath.Base(tool), strings.Join(args, " "), strings.TrimSpace(strings.ReplaceAll(string(out), tmp, filepath.Base(path)))))
		}
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	url := a.cfg.PrometheusURL
	if target == "alertmanager" {
		url = a.cfg.AlertmanagerURL
	}
	return a.reload(ctx, target, url, verify)
}

// reload asks the server to read its files again (POST /-/reload, which
// answers an error when the new files do not load) and then reads back
// what it runs, a few times: Prometheus applies a reload's rule groups
// before answering, but a read-back is the only proof.
func (a *Adapter) reload(ctx context.Context, target, base string, verify func(context.Context) error) error {
	start := time.Now()
	err := a.post(ctx, base+"/-/reload")
	if err == nil {
		for i := 0; ; i++ {
			if err = verify(ctx); err == nil || i == 4 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	a.m.reloads.WithLabelValues(target, result(err)).Inc()
	a.m.duration.WithLabelValues(target).Observe(time.Since(start).Seconds())
	if err == nil {
		a.m.applied.WithLabelValues(target).SetToCurrentTime()
	}
	return err
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (a *Adapter) post(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The server's reason may name other enterprises' rule files:
		// it goes to the operator's log only, not into the status the
		// enterprise reads.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &endpoint.BackendError{Op: "POST " + url, Status: resp.Status, Detail: endpoint.Reason(b)}
	}
	return nil
}

func (a *Adapter) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

// promRules is Prometheus's GET /api/v1/rules answer, what AMP reads of it.
type promRules struct {
	Data struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []struct {
				Name  string `json:"name"`
				Query string `json:"query"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"data"`
}

// prometheusHolds verifies that the running Prometheus loaded the rule
// file: its groups from that file have exactly the rendered alerts, in
// order.
func (a *Adapter) prometheusHolds(id string, body []byte) func(context.Context) error {
	var want ruleFile
	_ = yaml.Unmarshal(body, &want)
	file := a.ruleFile(id)
	return func(ctx context.Context) error {
		var got promRules
		if err := a.getJSON(ctx, a.cfg.PrometheusURL+"/api/v1/rules?type=alert", &got); err != nil {
			return err
		}
		var wantNames, gotNames []string
		for _, g := range want.Groups {
			for _, r := range g.Rules {
				wantNames = append(wantNames, g.Name+"/"+r.Alert)
			}
		}
		for _, g := range got.Data.Groups {
			if sameFile(g.File, file) {
				for _, r := range g.Rules {
					gotNames = append(gotNames, g.Name+"/"+r.Name)
				}
			}
		}
		if !slices.Equal(wantNames, gotNames) {
			return fmt.Errorf("after the reload Prometheus runs %v from %s, not %v (is %s/*.yml in its rule_files?)", gotNames, filepath.Base(file), wantNames, a.cfg.RulesDir)
		}
		return nil
	}
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// amStatus is Alertmanager's GET /api/v2/status answer, what AMP reads of it.
type amStatus struct {
	Config struct {
		Original string `json:"original"`
	} `json:"config"`
}

// alertmanagerHolds verifies that the running Alertmanager runs the
// configuration: the same receivers, and the same enterprise routes.
func (a *Adapter) alertmanagerHolds(body []byte) func(context.Context) error {
	want := receiverNames(body)
	return func(ctx context.Context) error {
		var st amStatus
		if err := a.getJSON(ctx, a.cfg.AlertmanagerURL+"/api/v2/status", &st); err != nil {
			return err
		}
		if got := receiverNames([]byte(st.Config.Original)); !slices.Equal(got, want) {
			return fmt.Errorf("after the reload Alertmanager runs the receivers %v, not %v", got, want)
		}
		return nil
	}
}

func receiverNames(body []byte) []string {
	var c struct {
		Receivers []struct {
			Name string `yaml:"name"`
		} `yaml:"receivers"`
	}
	_ = yaml.Unmarshal(body, &c)
	var out []string
	for _, r := range c.Receivers {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

// Held implements controller.Adapter: what the running servers hold, so
// that one restarted with other files is given them again.
func (a *Adapter) Held(ctx context.Context, backend string) (map[string]bool, error) {
	held := map[string]bool{}
	if backend == a.cfg.AlertmanagerURL {
		var st amStatus
		if err := a.getJSON(ctx, a.cfg.AlertmanagerURL+"/api/v2/status", &st); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(a.cfg.AlertmanagerConfig)
		if err == nil && slices.Equal(receiverNames(b), receiverNames([]byte(st.Config.Original))) && slices.Contains(receiverNames(b), OperatorReceiver) {
			held[alertmanagerID] = true
		}
		return held, nil
	}
	var got promRules
	if err := a.getJSON(ctx, a.cfg.PrometheusURL+"/api/v1/rules?type=alert", &got); err != nil {
		return nil, err
	}
	for _, g := range got.Data.Groups {
		if !strings.HasPrefix(g.Name, "amp/") || filepath.Dir(g.File) != filepath.Clean(a.cfg.RulesDir) && !sameDir(g.File, a.cfg.RulesDir) {
			continue
		}
		if g.Name == packGroup {
			held[packID] = true
		} else if tenant, ok := strings.CutPrefix(g.Name, GroupName("")); ok {
			held[rulesID(tenant)] = true
		}
	}
	return held, nil
}

func sameDir(file, dir string) bool {
	a, errA := os.Stat(filepath.Dir(file))
	b, errB := os.Stat(dir)
	return errA == nil && errB == nil && os.SameFile(a, b)
}
