package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/api/gnmi"
	"github.com/amp-edge/amp/internal/api/rest"
	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/memlimit"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/server"
	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
)

func defaultDataDir() string {
	if d := os.Getenv("AMP_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "amp")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "amp")
	}
	return "amp-data"
}

func newServeCmd() *cobra.Command {
	cfg := server.Config{DemoData: demoData}
	var logLevel string
	tracing := telemetry.Tracing{Service: "amp-serve"}
	var insecureRemote bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the AMP platform (REST API, configuration engine, embedded store)",
		Long: `Run the AMP platform: the model-driven configuration engine with its
embedded store (bbolt, in --data-dir) and the REST API.

--store etcd://host1:2379,host2:2379,host3:2379/prefix/ keeps the
configuration and its history in etcd instead (docs/etcd.md); --data-dir
then holds only the local CA, the first admin token and the audit trail.
Any number of replicas may share one prefix: each takes reads and writes,
and one at a time (elected on etcd) runs each controller (docs/etcd.md).

On first start it creates an admin API token and writes it to
<data-dir>/admin.token; every request needs it as "Authorization: Bearer …".
It serves HTTPS: unless --tls-cert/--tls-key name a certificate, it creates
a local CA in <data-dir>/tls on first start (ca.crt: export AMP_CA=… for
the CLI, curl --cacert "$AMP_CA"), with a server certificate renewed when
close to expiry and an admin client certificate for gNMI mutual TLS
(docs/tls.md). Plain HTTP only with --insecure-http, on loopback.

The web portal is served at / on the same listener (https://127.0.0.1:8181/:
sign in with an API token; docs/portal.md). It is embedded when the binary
is built after "make portal"; otherwise / says how to build it.

Edge agents (amp agent) enrol with a cluster's registration token and get
a client certificate from AMP's agent CA: generated at first start and kept
in the store (so every replica shares it), or the operator's own with
--agent-ca-cert/--agent-ca-key (docs/agent.md).

Examples:
  amp serve --demo                       # laptop: embedded store, demo data, in-process emulated SD-Cores and UPFs
  amp serve --backends /etc/amp/backends.yaml --backend-allow-net 10.20.0.0/16   # the operator's cores and UPFs (docs/security.md)
  amp serve --data-dir /var/lib/amp --listen 127.0.0.1:8181
  amp serve --models ./my-models         # add or override YANG model sets
  amp serve --store etcd://127.0.0.1:2379/amp/   # the store on etcd
  amp serve --listen 0.0.0.0:8181 --tls-cert /etc/amp/tls.crt --tls-key /etc/amp/tls.key
  amp serve --agent-ca-cert /etc/amp/agents-ca.crt --agent-ca-key /etc/amp/agents-ca.key --agent-cert-lifetime 720h
  amp serve --otlp-endpoint http://127.0.0.1:4317 --trace-sample-ratio 0.1   # export traces (docs/monitoring.md)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if insecureRemote {
				return usagef("--insecure-remote is gone: amp serve speaks HTTPS (and gNMI TLS) by default, with a local CA in <data-dir>/tls or --tls-cert/--tls-key; plain HTTP (--insecure-http) is loopback only (docs/tls.md)")
			}
			lvl, err := telemetry.ParseLevel(logLevel)
			if err != nil {
				return err
			}
			telemetry.Level.Set(lvl)
			logs, ship, err := shipOwnLogs(cfg.DataDir)
			if err != nil {
				return err
			}
			shipCtx, stopShip := context.WithCancel(context.Background())
			shipped := make(chan struct{})
			go func() { ship(shipCtx); close(shipped) }()
			// The last lines are shipped (or spooled) after the server stops.
			defer func() { stopShip(); <-shipped }()
			cfg.Logger = telemetry.NewLogger(logs)
			// The services that log through slog's default (the fleet's
			// charts, rollouts and workflows) log JSON too, shipped with the
			// rest and timed to the nanosecond rather than the second.
			slog.SetDefault(cfg.Logger)
			cfg.Version = version
			tracing.Version = version
			shutdown, err := tracing.Setup(cmd.Context())
			if err != nil {
				return usagef("%v", err)
			}
			defer shutdown(context.WithoutCancel(cmd.Context()))
			if err := server.Run(cmd.Context(), cfg); err != nil {
				return fmt.Errorf("amp serve: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for the store and the first admin token (env AMP_DATA_DIR)")
	f.StringVar(&cfg.BackupKey, "backup-key", "", "file of the key that signs backups, kept out of them: amp restore checks the signature with it (default: <data-dir>/backup.key, created on first start; give every etcd replica the same one)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8181", "address for the REST API")
	f.StringVar(&cfg.Store, "store", envOr("AMP_STORE", "bbolt"), "where configuration and history live: bbolt (embedded, in --data-dir) or etcd://host:port[,host:port…][/prefix/] (etcds:// for TLS, trusting --etcd-ca) (env AMP_STORE)")
	f.StringVar(&cfg.ReplicaName, "replica-name", os.Getenv("AMP_REPLICA_NAME"), "this replica's name in etcd elections, shown as who runs each controller (default hostname/--listen; env AMP_REPLICA_NAME)")
	f.StringVar(&cfg.EtcdCA, "etcd-ca", "", "PEM file of the CA that signed the etcd members' certificates (etcds:// only; default: the system's roots)")
	f.StringArrayVar(&cfg.ModelDirs, "models", nil, "directory of extra YANG model sets (<set>/<version>/*.yang, libraries as <lib>/*.yang); repeatable")
	f.BoolVar(&cfg.Demo, "demo", false, "load the demo data set into an empty store")
	// HTTP API limits (docs/security.md)
	f.Int64Var(&cfg.Limits.MaxBody, "max-body", rest.DefaultLimits.MaxBody, "largest request body of an ordinary write, in bytes; larger gets 413")
	f.Int64Var(&cfg.Limits.MaxBulkBody, "max-bulk-body", rest.DefaultLimits.MaxBulkBody, "largest body of a compatibility layer's bulk PATCH, PATCH /"+compatROC+" (amp import, amp apply), in bytes")
	f.IntVar(&cfg.Limits.MaxElements, "max-body-elements", rest.DefaultLimits.MaxElements, "most JSON values (objects, arrays and their members) in one request body; decoded JSON costs far more memory than its text, so this bounds a request's memory")
	f.IntVar(&cfg.Limits.MaxDepth, "max-body-depth", rest.DefaultLimits.MaxDepth, "deepest nesting of objects and arrays in a request body")
	f.Int64Var(&cfg.Limits.LargeBody, "large-body", rest.DefaultLimits.LargeBody, "bodies over this many bytes (or of unknown length) count against --max-large-requests")
	f.IntVar(&cfg.Limits.MaxLarge, "max-large-requests", rest.DefaultLimits.MaxLarge, "large requests (see --large-body) served at once; more are answered 503 with Retry-After")
	f.DurationVar(&cfg.Limits.BodyTimeout, "body-timeout", rest.DefaultLimits.BodyTimeout, "time a client has to send a request body (slower gets 408); request headers have 10s")
	f.DurationVar(&cfg.Limits.WriteTimeout, "write-timeout", rest.DefaultLimits.WriteTimeout, "time to answer a request once its body is in, or after a ?wait=applied wait (not /watch or /admin/backup, which stream)")
	f.IntVar(&cfg.Limits.PerPrincipal, "max-requests-per-principal", rest.DefaultLimits.PerPrincipal, "requests of one principal in progress at once (whole-tree reads, /diff?from=0 cost in proportion to the data); more wait up to 10 s for a slot, then get 429")
	f.IntVar(&cfg.Limits.StreamsPerPrincipal, "max-streams-per-principal", rest.DefaultLimits.StreamsPerPrincipal, "open /watch and /admin/backup streams of one principal; more get 429")
	f.IntVar(&cfg.MaxConns, "max-conns", 4096, "most REST connections open at once; more are closed on arrival (0 = no cap)")
	f.IntVar(&cfg.MaxConnsPerSource, "max-conns-per-source", 256, "most REST connections open at once from one IP address (IPv6: one /64); more are closed on arrival (0 = no cap)")
	// end HTTP API limits
	f.Uint64Var(&cfg.RetainCount, "history-retain-count", 0, "keep at most this many transactions of history (0 = no count limit)")
	f.DurationVar(&cfg.RetainAge, "history-retain-age", 0, "drop history older than this, e.g. 720h (0 = no age limit)")
	f.StringVar(&cfg.OIDCIssuer, "oidc-issuer", "", "OIDC provider issuer URL: accept its JWTs as bearer tokens (Keycloak: https://host/realms/<realm>; see docs/identity.md)")
	f.StringVar(&cfg.OIDCClientID, "oidc-client-id", "amp", "audience the OIDC tokens must be issued for")
	f.StringSliceVar(&cfg.OIDCAudiences, "oidc-audiences", nil, "further audiences accepted besides --oidc-client-id, comma-separated or repeated: the OIDC clients of other applications in front of AMP, e.g. "+guiAudienceExample+"")
	f.StringVar(&cfg.OIDCGroupsClaim, "oidc-groups-claim", "groups", "claim(s) holding the caller's groups, dotted for nested (Keycloak realm roles: realm_access.roles), comma-separated to merge")
	f.BoolVar(&cfg.OIDCBookGroups, "oidc-book-groups", true, "also read the book's group names as rights: "+auth.BookOperator+" (operator), <enterprise>-admin, EnterpriseAdmin with <enterprise>, <enterprise> (member), amp-state-writer; false: only amp:<role>[:<enterprise>] groups grant rights (docs/identity.md)")
	f.StringVar(&cfg.OIDCUsernameClaim, "oidc-username-claim", "preferred_username", "claim naming the caller (falls back to sub)")
	f.StringVar(&cfg.PolicyDir, "policy-dir", "", "directory of rego authorization policy files, reloaded on change (default: the embedded policy, docs/identity.md)")
	// Southbound adapters: --adapters and each registered adapter's own
	// flags (docs/controllers.md).
	component.Default.AddFlags(f)
	f.DurationVar(&cfg.ProbeEvery, "probe-every", 5*time.Second, "how often backends are asked what they hold, to resync one that restarted empty")
	// Backend endpoints (docs/security.md, "Backend endpoints")
	f.StringVar(&cfg.BackendsFile, "backends", "", "YAML file of the operator's backends (SD-Cores, UPFs) and the enterprises each is granted to, reloaded on change; a site's endpoint may name only a backend granted to its enterprise (default: none)")
	f.StringSliceVar(&cfg.BackendAllowNets, "backend-allow-net", nil, "address or CIDR prefix of loopback, private, link-local or other special addresses AMP may connect to for backends (refused by default, checked at every connection); repeatable, e.g. 10.20.0.0/16")
	f.BoolVar(&cfg.DemoBackends, "demo-backends", true, "with --demo: run AMP's SD-Core and UPF emulators in-process on loopback and point the demo sites at them")
	cfg.MemoryLimit = memlimit.Setting{Auto: true}
	f.Var(&cfg.MemoryLimit, "memory-limit", "the Go runtime's soft memory limit: a size (e.g. 1536MiB, 2GiB, bytes), off, or auto: --memory-limit-ratio of the memory limit of the server's cgroup (container, systemd MemoryMax=), none when it has none; the collector works harder as the heap nears it (docs/operations.md)")
	f.Float64Var(&cfg.MemoryLimitRatio, "memory-limit-ratio", memlimit.DefaultRatio, "with --memory-limit auto: the share of the cgroup's memory limit to set, in (0, 1]")
	f.StringVar(&cfg.PprofListen, "pprof-listen", "", "loopback address to serve Go's profiles on (/debug/pprof/, e.g. 127.0.0.1:6060): goroutines, heap, CPU; off by default")
	f.StringVar(&cfg.DemoBackendsListen, "demo-backends-listen", "", "loopback address of the demo emulators (default: the one used last in --data-dir, else a free port)")
	// end backend endpoints
	// Transport security (docs/tls.md)
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) for HTTPS and, by default, gNMI; with --tls-key (default: a certificate of the local CA in <data-dir>/tls)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA bundle: REST clients must present a certificate it signed (mutual TLS, besides their token)")
	f.StringArrayVar(&cfg.TLSSANs, "tls-san", nil, "extra DNS name or IP address for the local CA's server certificate; repeatable")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve the REST API over plain HTTP instead of HTTPS (loopback --listen only)")
	f.StringArrayVar(&cfg.CORSOrigins, "allow-cors-origin", nil, "exact browser origin allowed to call the REST API from its pages, e.g. http://localhost:4200 for "+guiExample+" in development; repeatable; default: none, CORS off")
	f.BoolVar(&insecureRemote, "insecure-remote", false, "removed: plain HTTP is never served off loopback")
	_ = f.MarkHidden("insecure-remote")
	// Edge agents' identity (docs/agent.md, "Enrolment and identity")
	f.StringVar(&cfg.AgentCACert, "agent-ca-cert", "", "PEM CA certificate that signs edge agents' client certificates, with --agent-ca-key (default: a CA generated at first start and kept in the store's metadata, shared by every replica); use a CA of its own, not --tls-client-ca's")
	f.StringVar(&cfg.AgentCAKey, "agent-ca-key", "", "PEM private key of --agent-ca-cert (PKCS #8, EC or PKCS #1)")
	f.DurationVar(&cfg.AgentCertLifetime, "agent-cert-lifetime", 90*24*time.Hour, "lifetime of the edge agents' certificates, from 1m to 8760h (a year); agents renew at two thirds of it, e.g. 720h")
	// end transport security
	// gNMI (docs/gnmi.md)
	f.StringVar(&cfg.GNMIListen, "gnmi-listen", "", "address for the gNMI (gRPC) interface, e.g. 127.0.0.1:5150 (empty = no gNMI)")
	f.StringVar(&cfg.GNMITLSCert, "gnmi-tls-cert", "", "PEM certificate for gNMI over TLS, with --gnmi-tls-key (default: the REST certificate)")
	f.StringVar(&cfg.GNMITLSKey, "gnmi-tls-key", "", "PEM private key for --gnmi-tls-cert")
	f.StringVar(&cfg.GNMITLSClientCA, "gnmi-tls-client-ca", "", "PEM CA bundle for gNMI mutual TLS: a client certificate it signed authenticates as its subject CN, its OUs its groups (default: the local CA when gNMI serves its certificate; --tls-client-ca never applies to gNMI)")
	f.BoolVar(&cfg.GNMIInsecureNoAuth, "gnmi-insecure-no-auth", false, "let gNMI calls without credentials in as \"anonymous\", with the rights of --gnmi-anonymous-groups (loopback --gnmi-listen only; for tests and local tools like gnmi_cli); implies plaintext unless --gnmi-tls-cert")
	f.StringSliceVar(&cfg.GNMIAnonymousGroups, "gnmi-anonymous-groups", nil, "groups of the \"anonymous\" principal under --gnmi-insecure-no-auth, e.g. acme (read acme) or "+auth.BookOperator+" (operator); default none: Capabilities only")
	f.IntVar(&cfg.GNMIMaxConns, "gnmi-max-conns", gnmi.DefaultMaxConns, "most open gNMI connections; more are closed at accept (-1: no limit)")
	f.IntVar(&cfg.GNMIMaxConnsPerSource, "gnmi-max-conns-per-source", gnmi.DefaultMaxConnsPerSource, "most open gNMI connections from one client IP address (-1: no limit)")
	f.IntVar(&cfg.GNMIMaxStreamsPerConn, "gnmi-max-streams-per-conn", gnmi.DefaultMaxStreamsPerConn, "most concurrent gNMI calls on one connection (HTTP/2 max concurrent streams; -1: no limit)")
	f.IntVar(&cfg.GNMIMaxSubscriptionsPerPrincipal, "gnmi-max-subscriptions-per-principal", gnmi.DefaultMaxSubscriptionsPerPrincipal, "most open gNMI Subscribe streams of one principal; more are refused with ResourceExhausted (-1: no limit)")
	f.DurationVar(&cfg.GNMIIdleTimeout, "gnmi-idle-timeout", gnmi.DefaultIdleTimeout, "close a gNMI connection with no call for this long")
	f.BoolVar(&cfg.GNMIInsecurePlaintext, "gnmi-insecure-plaintext", false, "serve gNMI without TLS (loopback --gnmi-listen only; default: TLS with --gnmi-tls-* or the REST certificate, and mutual TLS with the local CA)")
	f.IntVar(&cfg.GNMIMaxMsgSize, "gnmi-max-msg-size", 16<<20, "largest gNMI message received or sent, in bytes (messages are read only for authenticated calls)")
	// Audit trail (docs/operations.md)
	f.DurationVar(&cfg.AuditRetainAge, "audit-retain-age", audit.DefaultRetainAge, "drop audit records older than this (the oldest go first; negative = no age limit)")
	f.Int64Var(&cfg.AuditRetainBytes, "audit-retain-size", audit.DefaultRetainBytes, "keep at most this many bytes of audit records, dropping the oldest (audit.db stays within about 2.5x this; negative = no size limit)")
	f.IntVar(&cfg.AuditQueue, "audit-queue", audit.DefaultQueueMax, "audit records that may wait for the disk; beyond, records are dropped and counted in amp_audit_dropped_total (writes are refused while the trail cannot be written)")
	f.IntVar(&cfg.AuthFailLimit, "auth-fail-limit", audit.DefaultAuthFailLimit, "failed authentications a source (an IP address, an IPv6 /64) may make per --auth-fail-window before it is answered 429 with Retry-After; valid credentials are never refused")
	f.DurationVar(&cfg.AuthFailWindow, "auth-fail-window", audit.DefaultAuthFailWindow, "window of --auth-fail-limit; failed authentications are audited once per source and window, with their count")
	// end audit trail
	f.Var(&edge.Interval, "agent-checkin-interval", "how often cluster agents check in (1s..60s); an agent silent for two intervals without a desired-state wait open is disconnected (docs/agent.md)")
	f.Var(&edge.LastSeenEvery, "agent-last-seen-every", "how often a connected agent's last-seen alone is written to the store (1s..1h); other replicas on the store see it up to this old, and each write is a commit per connected agent (docs/agent.md)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error (change at run time with PUT /admin/log-level)")
	tracingFlags(f, &tracing)
	return cmd
}

// shipOwnLogs is where amp serve's logs go: stderr, and with
// --log-push-url the log store too, through a spool in
// <data-dir>/log-spool (docs/logging.md). ship runs the shipper on every
// replica, each shipping its own lines; the service log-ship-metrics puts its
// amp_log_* metrics on the server's registry.
func shipOwnLogs(dataDir string) (w io.Writer, ship func(context.Context) error, err error) {
	push := monitor.LogPushURL()
	if push == "" {
		return os.Stderr, func(context.Context) error { return nil }, nil
	}
	m := logship.NewMetrics(nil)
	sh, err := logship.New(logship.Options{Sink: logship.HTTPSink(push, nil), Dir: filepath.Join(dataDir, "log-spool"), Metrics: m})
	if err != nil {
		return nil, nil, err
	}
	component.RegisterService(component.Service{Name: "log-ship-metrics", New: func(env component.Env) func(ctx context.Context) error {
		if env.Metrics != nil {
			m.Register(env.Metrics)
		}
		return func(ctx context.Context) error { <-ctx.Done(); return nil }
	}})
	return io.MultiWriter(os.Stderr, sh), sh.Run, nil
}
