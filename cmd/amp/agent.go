package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/agent"
	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/helm"
	"github.com/amp-edge/amp/internal/agent/kube"
	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/agent/loglevel"
	"github.com/amp-edge/amp/internal/agent/probe"
	"github.com/amp-edge/amp/internal/agent/sealed"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/seal"
	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
)

// newAgentCmd is "amp agent": the edge agent of one site's cluster
// (docs/agent.md).
func newAgentCmd() *cobra.Command {
	var (
		dir, kubeconfig, metricsListen, logLevel, server, prometheusURL string
		interval, wait                                                  time.Duration
		shipLogs                                                        bool
		logSpoolMax                                                     int64
		tracing                                                         = telemetry.Tracing{Service: "amp-agent"}
	)
	cmd := &cobra.Command{
		Use:   "agent [--dir DIR] [--kubeconfig FILE] [--interval D] [--server URL] [--poll-wait D] [--metrics-listen ADDR] [--prometheus-url URL] | agent register | agent status",
		Short: "Run the edge agent of a site's Kubernetes cluster: enrol, pull the desired state, keep the site in it",
		Long: `Run the edge agent of one site's cluster. It dials AMP (AMP never dials a
site) over mutual TLS with the cluster's certificate, long-polls the
cluster's desired state (declared node labels and taints, declared
namespaces, Helm releases of the fleet's bundles) and keeps it on the
local Kubernetes API, correcting drift at
once; it checks in at every interval with the cluster's facts and what it
applied. It also runs the cluster's end-to-end probes (the built-in
control-plane and user-plane tests, and those declared in the monitor set)
and pushes each result to AMP at once; while AMP is out of reach the
results wait in the state directory (probes.json) and are pushed when it
answers. Enrol it first with amp agent register.

Everything it needs is in its state directory (--dir): its credentials,
the last desired state AMP sent and its journal. With AMP unreachable it
keeps enforcing that state, across its own restarts, for as long as its
certificate is valid, and reports the outage once the link is back. If
the certificate expires meanwhile, it keeps enforcing and logs how to
recover: a new token and amp agent register, which keeps the cached state.

With --ship-logs its log lines go to AMP over the link, which labels them
with the cluster, its site and enterprise and relays them to its log
store; while AMP or the store is away they wait on disk in
<dir>/log-spool (bounded by --log-spool-max-bytes; the oldest dropped and
counted past it) and are sent after. Levels per component change at run
time with amp log-level --cluster C COMPONENT LEVEL (docs/logging.md).

The Kubernetes API: --kubeconfig (one file), else the pod's in-cluster
configuration, else $KUBECONFIG, which may list several files (a:b), merged
as kubectl merges them. Metrics (amp_agent_*) on --metrics-listen, off by
default; bind it to a local address.

The site's metrics stay in its Prometheus (--prometheus-url): AMP hands
the agent the metric queries its users ask of this site, already
restricted to what each caller may see; the agent runs them locally and
sends back only their results.

Examples:
  amp agent register --server https://amp.example.com:8181 --token-file ace-x.token --cluster ace-x
  amp agent --kubeconfig /etc/kubernetes/admin.conf
  KUBECONFIG=/etc/amp-agent/cluster.yaml:/etc/amp-agent/user.yaml amp agent
  amp agent --dir /var/lib/amp-agent --interval 30s --metrics-listen 127.0.0.1:9469
  amp agent --prometheus-url http://127.0.0.1:9090   # the site's Prometheus, for AMP's site queries
  amp agent --ship-logs --log-spool-max-bytes 67108864
  amp agent --server https://amp-2.example.com:8181    # another replica of the same AMP
  amp agent --otlp-endpoint http://collector.site.lan:4317   # export traces (docs/monitoring.md)
  amp agent status`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := tracing.Check(); err != nil {
				return usagef("%v", err)
			}
			lvl, err := telemetry.ParseLevel(logLevel)
			if err != nil {
				return usagef("%v", err)
			}
			if wait < time.Second || wait > 5*time.Minute {
				return usagef("--poll-wait %s is not from 1s to 5m (AMP answers a longer wait at 5m)", wait)
			}
			if server != "" {
				if _, err := link.ParseServer(server); err != nil {
					return usagef("--server: %v", err)
				}
			}
			telemetry.Level.Set(lvl)
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			var ag *agent.Agent
			var pr *prometheus.Registry
			if metricsListen != "" {
				pr = prometheus.NewRegistry()
				pr.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			}
			logOut := io.Writer(os.Stderr)
			var shipper *logship.Shipper
			if shipLogs {
				// Lines go to AMP over the link (the agent reaches AMP
				// only), which relays them to the log store; while AMP
				// or the store is away they wait in <dir>/log-spool.
				shipper, err = logship.New(logship.Options{Dir: filepath.Join(d.Path, "log-spool"), MaxSpoolBytes: logSpoolMax,
					Metrics: logship.NewMetrics(probeRegistry(pr)),
					Sink: func(ctx context.Context, body []byte) error {
						c, err := ag.Link()
						if err != nil {
							return err
						}
						return c.PushLogs(ctx, body)
					}})
				if err != nil {
					return err
				}
				logOut = io.MultiWriter(os.Stderr, shipper)
			}
			log := telemetry.NewLogger(logOut)
			kc, err := kube.Config(kubeconfig)
			if err != nil {
				return err
			}
			cs, err := kubernetes.NewForConfig(kc)
			if err != nil {
				return fmt.Errorf("the Kubernetes client: %w", err)
			}
			cluster := kube.New(cs)
			var m *agent.Metrics
			var hm *helm.Metrics
			if pr != nil {
				m, hm = agent.NewMetrics(pr), helm.NewMetrics(pr)
				stop, err := serveMetrics(metricsListen, pr, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			// Charts come over the link, through a cache in the state
			// directory (an offline restart still has them); the probes
			// push over it. The link is made below.
			charts := &helm.Cache{Dir: filepath.Join(d.Path, "charts"), Fetch: func(ctx context.Context, digest string) ([]byte, error) {
				return ag.Chart(ctx, digest)
			}}
			releases, err := helm.New(helm.Options{Config: kc, Charts: charts, Log: log, Metrics: hm})
			if err != nil {
				return err
			}
			probes, err := probe.New(probe.Options{Dir: d, Log: log, Registry: probeRegistry(pr),
				Push: func(ctx context.Context, rs []wire.ProbeResult) error {
					c, err := ag.Link()
					if err != nil {
						return err
					}
					_, err = c.PushProbes(ctx, rs)
					return err
				},
				ReachAMP: func(ctx context.Context) error {
					c, err := ag.Link()
					if err != nil {
						return err
					}
					return c.Reach(ctx)
				}})
			if err != nil {
				return err
			}
			reg := apply.NewRegistry()
			cluster.Register(reg)
			releases.Register(reg)
			reg.Register(seal.KindSealedSecret, sealed.New(cs))
			reg.Register(wire.KindProbe, probes)
			loglevel.New().Register(reg)
			tracing.Version = version
			shutdown, err := tracing.Setup(cmd.Context())
			if err != nil {
				return usagef("%v", err)
			}
			defer shutdown(context.Background())
			ag, err = agent.New(agent.Options{
				Dir: d, Registry: reg, Facts: cluster.Facts, Interval: interval, Server: server, Wait: wait,
				Version: version, Log: log, Metrics: m, PrometheusURL: prometheusURL,
			})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go probes.Run(ctx)
			if shipper != nil {
				shipped := make(chan struct{})
				go func() { shipper.Run(ctx); close(shipped) }()
				defer func() { cancel(); <-shipped }()
			}
			return ag.Run(ctx)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", envOr("AMP_AGENT_DIR", state.DefaultDir), "state directory: credentials, cached desired state, journal (env AMP_AGENT_DIR)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the site's cluster (default: in-cluster configuration, else $KUBECONFIG, which may list files a:b)")
	f.DurationVar(&interval, "interval", 0, "check-in interval (default: the one AMP sets, 30s unless told)")
	f.StringVar(&server, "server", "", "AMP's address, overriding the one enrolled with (agent.json): another replica of the same AMP, or its new address")
	f.DurationVar(&wait, "poll-wait", agent.DefaultWait, "how long each desired-state long-poll waits for a change (1s..5m); shorter behind a proxy that cuts idle connections sooner, and AMP notices a stopped agent within it plus two check-in intervals")
	f.StringVar(&metricsListen, "metrics-listen", "", "address to serve Prometheus metrics on at /metrics, e.g. 127.0.0.1:9469 (default: off)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error (per component at run time: amp log-level --cluster C COMPONENT LEVEL)")
	f.StringVar(&prometheusURL, "prometheus-url", "", "the site's Prometheus, e.g. http://127.0.0.1:9090: AMP's metric queries for this site run against it, and only their results go to AMP (default: none; such queries are answered with an error)")
	f.BoolVar(&shipLogs, "ship-logs", false, "ship the agent's logs to AMP, which relays them to its log store (amp serve --log-push-url); they wait on disk in <dir>/log-spool while AMP is out of reach")
	f.Int64Var(&logSpoolMax, "log-spool-max-bytes", logship.DefaultMaxSpoolBytes, "bound of <dir>/log-spool: past it the oldest batches are dropped and counted (amp_log_dropped_lines_total)")
	tracingFlags(f, &tracing)
	cmd.AddCommand(newAgentRegisterCmd(), newAgentStatusCmd())
	return cmd
}

// probeRegistry is where the probes' metrics go: nil (none) without
// --metrics-listen.
func probeRegistry(pr *prometheus.Registry) prometheus.Registerer {
	if pr == nil {
		return nil
	}
	return pr
}

// serveMetrics serves reg at ADDR/metrics until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, log interface{ Info(string, ...any) }) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

func newAgentRegisterCmd() *cobra.Command {
	var server, token, tokenFile, cluster, serverCA, dir string
	cmd := &cobra.Command{
		Use:   "register --server URL (--token TOKEN | --token-file FILE) [--cluster NAME] [--server-ca FILE] [--dir DIR]",
		Short: "Enrol this site's agent with a registration token: AMP signs a certificate for the cluster",
		Long: `Enrol the agent with the single-use token an operator minted for the
cluster (amp cluster token NAME). The agent generates its private key in
the state directory (key.pem, 0600; it never leaves the site, and is kept
across enrolments and renewals), sends a certificate request with the
token, and writes the certificate AMP signed (CN = the cluster), AMP's CA
and the CA to pin for AMP's server, and agent.json. A token used twice,
expired, or minted for another cluster than --cluster is refused with the
reason.

Run it again with a new token to recover an agent whose certificate
expired while AMP was out of reach: the cached desired state and journal
are kept (they are dropped only when the token is for another cluster).
A running agent picks up the new certificate by itself.

--server-ca is the CA that signed AMP's serving certificate (for a
development AMP: <data-dir>/tls/ca.crt of amp serve); without it the
system's roots are trusted.

Examples:
  amp cluster token ace-x > ace-x.token        # the operator, on AMP
  amp agent register --server https://amp.example.com:8181 --token-file ace-x.token --cluster ace-x
  AMP_REGISTRATION_TOKEN=ampreg_… amp agent register --server https://10.0.0.5:8181 --server-ca ca.crt`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if server == "" {
				return usagef("give --server, the URL of AMP")
			}
			if _, err := link.ParseServer(server); err != nil {
				return usagef("--server: %v", err)
			}
			tok, err := registrationToken(token, tokenFile)
			if err != nil {
				return err
			}
			d, err := state.Open(dir)
			if err != nil {
				return err
			}
			var pool *x509.CertPool
			var caPEM []byte
			if serverCA != "" {
				if caPEM, err = os.ReadFile(serverCA); err != nil {
					return fmt.Errorf("--server-ca: %w", err)
				}
				pool = x509.NewCertPool()
				if !pool.AppendCertsFromPEM(caPEM) {
					return usagef("--server-ca %s holds no PEM certificate", serverCA)
				}
			}
			csr, err := d.CSR(cluster)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			cr, err := link.Register(ctx, server, pool, wire.RegisterRequest{Token: tok, Cluster: cluster, CSR: csr}, link.DefaultBackoff, version)
			if err != nil {
				return fmt.Errorf("register: %w", err)
			}
			if cluster != "" && cr.Cluster != cluster {
				return fmt.Errorf("register: AMP enrolled the agent as cluster %s, not %s; nothing was written", cr.Cluster, cluster)
			}
			if err := forgetOtherCluster(d, cr.Cluster, cmd.ErrOrStderr()); err != nil {
				return err
			}
			if err := d.SaveConfig(&state.Config{Server: server, Cluster: cr.Cluster, Interval: cr.Interval, EnrolledAt: time.Now().UTC()}); err != nil {
				return err
			}
			if err := d.SaveCredentials(cr, string(caPEM)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled as cluster %s: certificate %s valid until %s (renewed from %s)\nstart the agent: amp agent --dir %s\n",
				cr.Cluster, cr.Serial, cr.NotAfter.UTC().Format(time.RFC3339), cr.RenewAt.UTC().Format(time.RFC3339), d.Path)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", os.Getenv("AMP_SERVER"), "URL of AMP, https (env AMP_SERVER)")
	f.StringVar(&token, "token", "", "the registration token (prefer --token-file or env AMP_REGISTRATION_TOKEN: a flag shows in the process list)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the registration token")
	f.StringVar(&cluster, "cluster", "", "the cluster this agent stands for: a token of another cluster is refused")
	f.StringVar(&serverCA, "server-ca", os.Getenv("AMP_CA"), "PEM CA that signed AMP's serving certificate (env AMP_CA; default: the system's roots)")
	f.StringVar(&dir, "dir", envOr("AMP_AGENT_DIR", state.DefaultDir), "state directory (env AMP_AGENT_DIR)")
	return cmd
}

// registrationToken is the token from --token, --token-file or
// AMP_REGISTRATION_TOKEN (exactly one).
func registrationToken(token, file string) (string, error) {
	if token != "" && file != "" {
		return "", usagef("give --token or --token-file, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", usagef("--token-file %s is empty", file)
		}
	}
	if token == "" {
		token = os.Getenv("AMP_REGISTRATION_TOKEN")
	}
	if token == "" {
		return "", usagef("give the registration token: --token-file FILE, --token TOKEN or env AMP_REGISTRATION_TOKEN (mint one with amp cluster token NAME)")
	}
	return token, nil
}

// forgetOtherCluster drops the cached desired state and journal when the
// directory held another cluster's: they must never be enforced on this
// one.
func forgetOtherCluster(d *state.Dir, cluster string, w io.Writer) error {
	id, err := d.Identity()
	if err != nil || id.Cluster == cluster {
		return nil
	}
	for _, name := range []string{state.DesiredFile, state.JournalFile} {
		if err := os.Remove(filepath.Join(d.Path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	fmt.Fprintf(w, "the state directory held cluster %s: its cached desired state and journal are dropped\n", id.Cluster)
	return nil
}

func newAgentStatusCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "status [--dir DIR] [-o json|yaml]",
		Short: "Show the agent's local state: enrolment, certificate, cached desired state, objects, outage",
		Long: `Read the agent's state directory (it does not call AMP, so it works while
AMP is unreachable): the cluster it is enrolled as and its server, the
certificate's serial and expiry, the desired state it holds (index,
digest, objects), each object's status at the site (applied, failed,
pending; drift corrected), a refused desired state, the current outage.
A corrupt or truncated file is named, and the status exits 1.

Examples:
  amp agent status
  amp agent status --dir /var/lib/amp-agent -o json`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usagef("-o %s: want json or yaml (default: text)", output)
			}
			d := &state.Dir{Path: dir}
			st := readAgentStatus(d)
			if output != "" {
				if err := printAs(cmd.OutOrStdout(), output, st); err != nil {
					return err
				}
			} else {
				printAgentStatus(cmd.OutOrStdout(), st)
			}
			if len(st.Problems) > 0 {
				return &cliError{code: 1}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&dir, "dir", envOr("AMP_AGENT_DIR", state.DefaultDir), "state directory (env AMP_AGENT_DIR)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml (default: text)")
	return cmd
}

// agentStatus is what amp agent status shows.
type agentStatus struct {
	Dir         string              `json:"dir"`
	Cluster     string              `json:"cluster,omitempty"`
	Server      string              `json:"server,omitempty"`
	EnrolledAt  *time.Time          `json:"enrolled-at,omitempty"`
	Serial      string              `json:"certificate-serial,omitempty"`
	NotAfter    *time.Time          `json:"certificate-not-after,omitempty"`
	RenewAt     *time.Time          `json:"certificate-renew-at,omitempty"`
	Expired     bool                `json:"certificate-expired,omitempty"`
	Desired     *wire.Applied       `json:"desired,omitempty"`
	Objects     []wire.ObjectStatus `json:"objects"`
	Refused     *state.Refusal      `json:"refused,omitempty"`
	Outage      *state.Outage       `json:"outage,omitempty"`
	LastCheckin *time.Time          `json:"last-checkin,omitempty"`
	Corrections int                 `json:"corrections"`
	LastError   string              `json:"last-error,omitempty"`
	Problems    []string            `json:"problems,omitempty"`
}

func readAgentStatus(d *state.Dir) *agentStatus {
	st := &agentStatus{Dir: d.Path, Objects: []wire.ObjectStatus{}}
	if _, err := os.Stat(d.Path); err != nil {
		st.Problems = append(st.Problems, fmt.Sprintf("state directory %s: %v", d.Path, err))
		return st
	}
	if cfg, err := d.Config(); err == nil {
		st.Server, st.Cluster = cfg.Server, cfg.Cluster
		st.EnrolledAt = &cfg.EnrolledAt
	} else {
		st.Problems = append(st.Problems, "enrolment: "+err.Error())
	}
	if id, err := d.Identity(); err == nil {
		st.Cluster = id.Cluster
		st.Serial = id.Leaf.SerialNumber.Text(16)
		na, ra := id.Leaf.NotAfter.UTC(), id.RenewAt().UTC()
		st.NotAfter, st.RenewAt = &na, &ra
		st.Expired = time.Now().After(na)
	} else {
		st.Problems = append(st.Problems, "certificate: "+err.Error())
	}
	desired, err := d.Desired()
	switch {
	case err != nil:
		st.Problems = append(st.Problems, "cached desired state: "+err.Error())
	case desired != nil:
		st.Desired = &wire.Applied{Index: desired.Index, Digest: desired.Digest}
	}
	j, err := d.Journal()
	if err != nil {
		st.Problems = append(st.Problems, "journal: "+err.Error())
		return st
	}
	if j.Objects != nil {
		st.Objects = j.Objects
	}
	st.Refused, st.Outage, st.Corrections, st.LastError = j.Refused, j.Outage, j.Corrections, j.LastError
	if !j.LastCheckin.IsZero() {
		st.LastCheckin = &j.LastCheckin
	}
	return st
}

func printAgentStatus(w io.Writer, st *agentStatus) {
	line := func(format string, a ...any) { fmt.Fprintln(w, termSafe(fmt.Sprintf(format, a...))) }
	if st.Cluster != "" {
		line("enrolled as cluster %s with %s", st.Cluster, st.Server)
	} else {
		line("not enrolled (state directory %s): run amp agent register", st.Dir)
	}
	if st.NotAfter != nil {
		validity := "valid until"
		if st.Expired {
			validity = "EXPIRED at"
		}
		line("certificate %s %s %s (renewal from %s)", st.Serial, validity, st.NotAfter.Format(time.RFC3339), st.RenewAt.Format(time.RFC3339))
	}
	if st.Desired != nil {
		line("desired state: index %d, digest %s", st.Desired.Index, st.Desired.Digest)
	} else {
		line("desired state: none cached yet")
	}
	if st.LastCheckin != nil {
		line("last check-in: %s", st.LastCheckin.Format(time.RFC3339))
	}
	if o := st.Outage; o != nil {
		line("OUTAGE since %s: %d restarts, %d drift corrections meanwhile; last error: %s", o.LostAt.Format(time.RFC3339), o.Restarts, o.Corrections, o.LastError)
	}
	if r := st.Refused; r != nil {
		line("REFUSED desired state index %d (digest %s), the previous one stays enforced:", r.Index, r.Digest)
		for _, p := range r.Problems {
			line("  %s/%s: %s", p.Kind, p.Name, p.Message)
		}
	}
	line("drift corrections: %d", st.Corrections)
	if len(st.Objects) > 0 {
		t := &table{header: []string{"KIND", "NAME", "STATE", "AT", "MESSAGE"}}
		for _, o := range st.Objects {
			msg := o.Message
			if o.Drift {
				msg = "drift corrected: " + msg
			}
			if o.Ready != nil && !*o.Ready {
				msg = "NOT READY: " + msg
			}
			if o.Version != "" {
				msg = "version " + o.Version + "; " + msg
			}
			// What the site and AMP said is free text: made safe for a terminal.
			t.rows = append(t.rows, []string{termSafe(o.Kind), termSafe(o.Name), o.State, o.At.Format(time.RFC3339), termSafe(msg)})
		}
		_ = t.print(w)
	}
	if st.LastError != "" {
		line("last error: %s", st.LastError)
	}
	for _, p := range st.Problems {
		line("problem: %s", p)
	}
}
