// Package server assembles `amp serve`: it loads the models, opens the
// store and the engine, creates the first admin token, optionally loads the
// demo data, and serves the REST API until its context ends. It is the only
// package that knows every other one; cmd/amp only parses flags into Config.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/amp-edge/amp/internal/api/gnmi"
	"github.com/amp-edge/amp/internal/api/openapi"
	"github.com/amp-edge/amp/internal/api/portal"
	"github.com/amp-edge/amp/internal/api/rest"
	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/memlimit"
	"github.com/amp-edge/amp/internal/policy"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// Config is everything `amp serve` takes.
type Config struct {
	DataDir string
	// BackupKey is the file of the key backups are signed with (default
	// <DataDir>/backup.key, created on first start).
	BackupKey string
	// Store is "bbolt" (or empty: the embedded store in DataDir) or an
	// etcd URL, etcd://host:port[,host:port…][/prefix/] (docs/etcd.md);
	// EtcdCA is the CA trusted for etcds:// URLs.
	Store, EtcdCA string
	// ReplicaName names this replica in etcd elections (default
	// hostname/listen address).
	ReplicaName string
	Listen      string
	ModelDirs   []string
	Demo        bool
	// Limits bound REST bodies, deadlines and large requests
	// (docs/security.md, "HTTP API limits"); zero fields: the defaults.
	Limits rest.Limits
	// MaxConns and MaxConnsPerSource cap open REST connections, in total
	// and per source address (0: no cap).
	MaxConns, MaxConnsPerSource int
	RetainCount                 uint64
	RetainAge                   time.Duration
	// Transport security (docs/tls.md). Without TLSCert/TLSKey the REST
	// API serves HTTPS with a certificate of the local CA created in
	// <data-dir>/tls; TLSClientCA requires REST clients to present a
	// certificate it signed; TLSSANs are extra names for the dev
	// certificate. InsecureHTTP serves plain HTTP (loopback only).
	TLSCert, TLSKey, TLSClientCA string
	TLSSANs                      []string
	InsecureHTTP                 bool
	// Edge agents' identity (docs/agent.md): the agent CA is the one in
	// the store's metadata (generated at first start) unless
	// AgentCACert/AgentCAKey name the operator's; AgentCertLifetime is
	// the lifetime of the certificates it signs (0: 90 days).
	AgentCACert, AgentCAKey string
	AgentCertLifetime       time.Duration
	// CORSOrigins are the exact browser origins allowed to call the REST
	// API (docs/security.md); none: CORS is off.
	CORSOrigins []string

	Version string
	Logger  *slog.Logger
	// Ready, when set, receives the bound address once the server listens.
	Ready func(addr string)

	// gNMI (docs/gnmi.md): served when GNMIListen is set.
	GNMIListen         string
	GNMITLSCert        string
	GNMITLSKey         string
	GNMITLSClientCA    string // mutual TLS: client certificate CN = principal
	GNMIInsecureNoAuth bool   // loopback only: calls without credentials run as "anonymous"; implies plaintext unless --gnmi-tls-cert
	GNMIMaxMsgSize     int
	// GNMIAnonymousGroups are the anonymous principal's groups under
	// GNMIInsecureNoAuth (default none).
	GNMIAnonymousGroups []string
	// gNMI limits (gnmi.Options; 0 = default, -1 = none).
	GNMIMaxConns, GNMIMaxConnsPerSource, GNMIMaxStreamsPerConn, GNMIMaxSubscriptionsPerPrincipal int
	GNMIIdleTimeout                                                                              time.Duration
	// GNMIInsecurePlaintext serves gNMI without TLS (loopback only);
	// otherwise gNMI uses the --gnmi-tls-* files or the REST certificate
	// with mutual TLS.
	GNMIInsecurePlaintext bool
	// end gNMI

	// Audit trail (docs/operations.md): retention, the queue waiting for
	// the disk, and the limit on failed authentications per source.
	AuditRetainAge   time.Duration
	AuditRetainBytes int64
	AuditQueue       int
	AuthFailLimit    int
	AuthFailWindow   time.Duration

	// ProbeEvery is how often backends are asked what they hold.
	ProbeEvery time.Duration
	// Identity (docs/identity.md): OIDC bearer tokens beside API tokens.
	OIDCIssuer, OIDCClientID, OIDCGroupsClaim, OIDCUsernameClaim string
	// OIDCBookGroups maps the book's group names (its operator group,
	// <enterprise>-admin, <enterprise>; docs/identity.md) to rights beside the structured
	// amp:<role>[:<enterprise>] ones.
	OIDCBookGroups bool
	// OIDCAudiences are accepted besides OIDCClientID (the OIDC clients of
	// other applications, e.g. a GUI).
	OIDCAudiences []string
	// PolicyDir holds the rego authorization policy (reloaded on change);
	// empty: the embedded default policy.
	PolicyDir string

	// Backends (docs/security.md, "Backend endpoints"): the operator's
	// file of backends granted to enterprises (reloaded on change), the
	// special address ranges AMP may connect to anyway, and the demo's
	// in-process emulators.
	BackendsFile       string
	BackendAllowNets   []string
	DemoBackends       bool
	DemoBackendsListen string
	// PprofListen serves Go's profiles on a loopback address of its own
	// (pprof.go); "": not served.
	PprofListen string
	// MemoryLimit is the Go runtime's soft memory limit (internal/memlimit):
	// auto takes MemoryLimitRatio of the cgroup's limit, when there is one.
	MemoryLimit      memlimit.Setting
	MemoryLimitRatio float64
	// DemoData is the demo --demo loads (demo.go).
	DemoData DemoData
}

// TokenFile is where the first admin token is written in the data dir.
const TokenFile = "admin.token"

// setMemoryLimit sets the Go runtime's soft memory limit of --memory-limit
// and says which it is (go_gc_gomemlimit_bytes shows it too).
func setMemoryLimit(cfg Config, log *slog.Logger) {
	d, err := memlimit.Apply(cfg.MemoryLimit, cfg.MemoryLimitRatio)
	if err != nil {
		log.Warn("no memory limit: the cgroup's cannot be read", "error", err)
	}
	if d.Bytes == 0 {
		log.Info("memory limit: none (the heap grows to twice the live heap before a collection; --memory-limit sets one)", "memory_limit", cfg.MemoryLimit.String())
		return
	}
	log.Info("memory limit set", "bytes", d.Bytes, "source", d.Source, "cgroup_limit_bytes", d.Cgroup, "memory_limit", cfg.MemoryLimit.String())
}

// Run serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := rest.CheckCORSOrigins(cfg.CORSOrigins); err != nil {
		return err
	}
	if cfg.MemoryLimit.Auto {
		if err := memlimit.CheckRatio(cfg.MemoryLimitRatio); err != nil {
			return err
		}
	}
	setMemoryLimit(cfg, log)
	// The data directory holds the CA, the first token, the backup key and
	// the audit trail whatever the store: with --store etcd:// nothing else
	// creates it.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	tr, err := setupTransport(cfg, log)
	if err != nil {
		return err
	}
	sources := []fs.FS{models.FS}
	for _, d := range cfg.ModelDirs {
		f, err := schema.DirFS(d)
		if err != nil {
			return err
		}
		sources = append(sources, f)
	}
	sch, err := schema.Load(sources...)
	if err != nil {
		return fmt.Errorf("load models: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	allowNets, err := endpoint.ParsePrefixes(cfg.BackendAllowNets)
	if err != nil {
		return fmt.Errorf("--backend-allow-net: %w", err)
	}
	netw := endpoint.NewNetwork(allowNets, reg)
	backends := endpoint.NewRegistry(reg)
	st, err := openStore(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := backup.CheckComplete(st); err != nil {
		return fmt.Errorf("store %s: %w", cfg.Store, err)
	}

	eng, err := config.Open(sch, st.Store, config.Options{
		Logger: log, Metrics: config.NewMetrics(reg), RetainCount: cfg.RetainCount, RetainAge: cfg.RetainAge, Replica: st.replica,
		Backends: backends, Exclusive: st.elector.Exclusive,
	})
	if err != nil {
		return fmt.Errorf("open configuration: %w", err)
	}
	defer eng.Close()
	// What runs from here on runs in one group: the first component to
	// fail stops the others, or marks the server not ready.
	group := component.NewGroup(log, reg)
	if _, shared := st.Store.(store.Shared); shared {
		// One replica writes checkpoints and compacts history at a time.
		group.Add(component.Component{Name: "maintenance", Run: func(ctx context.Context) error {
			st.elector.Lead(ctx, "maintenance", eng.Maintain)
			return nil
		}})
	}
	if probe := storeProbe(st.Store); probe != nil {
		group.Add(watching("store", probe, group))
	}

	backupKeyFile := cfg.BackupKey
	if backupKeyFile == "" {
		backupKeyFile = filepath.Join(cfg.DataDir, "backup.key")
	}
	backupKey, err := backup.LoadOrCreateKey(backupKeyFile)
	if err != nil {
		return fmt.Errorf("--backup-key: %w", err)
	}
	tokens := auth.NewTokens(st)
	tokens.SetRetired(func(id string) bool { _, r := eng.Retired(id); return r })
	if err := firstToken(cfg.DataDir, st, tokens, log); err != nil {
		return err
	}
	// Who is calling: API tokens, then OIDC JWTs when a provider is set.
	var authn auth.Authenticator = tokens
	var jwt *auth.OIDC
	if cfg.OIDCIssuer != "" {
		jwt, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, Audiences: cfg.OIDCAudiences,
			GroupsClaim: cfg.OIDCGroupsClaim, UsernameClaim: cfg.OIDCUsernameClaim, NoBookGroups: !cfg.OIDCBookGroups, Logger: log, Registerer: reg})
		if err != nil {
			return fmt.Errorf("--oidc-issuer: %w", err)
		}
		authn = auth.Chain(tokens, jwt)
	}
	// Edge agents: a client certificate of the agent CA is an agent's
	// identity, checked at every request against the allow-list.
	serverCA, err := tr.serverCA()
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	agentCA, err := ca.New(eng, ca.Options{CertFile: cfg.AgentCACert, KeyFile: cfg.AgentCAKey, Lifetime: cfg.AgentCertLifetime,
		Registerer: reg, ServerCA: serverCA, Logger: log.With("component", "agent-ca")})
	if err != nil {
		return fmt.Errorf("agent CA: %w", err)
	}
	ca.Attach(agentCA)
	defer ca.Detach(eng)
	authn = &ca.Authenticator{CA: agentCA, Next: authn, OperatorClientCA: cfg.TLSClientCA != ""}
	tr.acceptAgents(agentCA)
	// May they: the rego policy, one decision point for every interface.
	var pol *policy.Engine
	if cfg.PolicyDir != "" {
		if pol, err = policy.LoadDir(cfg.PolicyDir); err != nil {
			return fmt.Errorf("--policy-dir: %w", err)
		}
		// Watch reloads once and then watches in the background (a failed
		// reload keeps the previous policy, and is logged); its error is
		// that first reload's, not to be dropped.
		if err := pol.Watch(ctx, cfg.PolicyDir); err != nil {
			return fmt.Errorf("--policy-dir: %w", err)
		}
	} else if pol, err = policy.Default(); err != nil {
		return fmt.Errorf("default policy: %w", err)
	}
	pol.SetLogger(log)
	// What happened: the append-only audit trail.
	trail, err := audit.Open(cfg.DataDir, audit.Options{Logger: log, Registerer: reg, RetainAge: cfg.AuditRetainAge, RetainBytes: cfg.AuditRetainBytes,
		QueueMax: cfg.AuditQueue, AuthFailLimit: cfg.AuthFailLimit, AuthFailWindow: cfg.AuthFailWindow, Schema: eng.Schema()})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer trail.Close()
	component.BindTrail(eng, trail) // services' own writes are audited too
	// While the trail cannot be written, writes are refused (a commit must
	// not go unrecorded): the replica is not ready for them.
	group.Add(watching("audit", func(context.Context) error { return trail.Err() }, group))
	if err := recoverAudit(ctx, eng, st.Store, trail, st.replica, "recovered from the transaction log: the record was lost (crash, or the trail could not be written)", slog.LevelWarn, log); err != nil {
		return err
	}
	if cfg.BackendsFile != "" {
		if err := backends.Watch(ctx, cfg.BackendsFile, 2*time.Second, backendsReport(ctx, cfg.BackendsFile, trail, log)); err != nil {
			return err
		}
	}
	if cfg.Demo {
		if cfg.DemoData == nil {
			return errors.New("--demo: this binary has no demo data set")
		}
		var db DemoBackends
		if cfg.DemoBackends {
			if db, err = startDemoBackends(cfg, netw, backends, log); err != nil {
				return err
			}
			defer db.Close()
		}
		if eng.Snapshot().Index == 0 {
			n, err := cfg.DemoData.Load(ctx, eng, db)
			if err != nil {
				return fmt.Errorf("load demo data: %w", err)
			}
			log.Info("demo data loaded", "transactions", n, "index", eng.Snapshot().Index)
			if err := recoverAudit(ctx, eng, st.Store, trail, st.replica, "demo data loaded at start-up (--demo)", slog.LevelInfo, log); err != nil {
				return err
			}
		} else {
			log.Info("store is not empty; demo data not loaded again", "index", eng.Snapshot().Index)
		}
	}

	// Controllers: one per registered adapter the flags enable
	// (docs/controllers.md), all fed by the engine's watch.
	adapters, err := component.Default.Enabled()
	if err != nil {
		return err
	}
	var ctrls []*controller.Controller
	cm := controller.NewMetrics(reg)
	env := component.Env{Engine: eng, Schema: sch, Network: netw, Backends: backends, Metrics: reg, DataDir: cfg.DataDir}
	for _, a := range adapters {
		ad, closeAd, err := a.New(env)
		if err != nil {
			return err
		}
		if closeAd != nil {
			defer closeAd()
		}
		ctrls = append(ctrls, controller.New(eng, ad, controller.Options{Logger: log, Metrics: cm, ProbeEvery: cfg.ProbeEvery}))
	}
	for _, sv := range component.Services() { // e.g. the fleet's git poller
		run := sv.New(env)
		group.Add(component.Component{Name: sv.Name, Run: func(ctx context.Context) error {
			var err error
			st.elector.Lead(ctx, sv.Name, func(ctx context.Context) { err = run(ctx) })
			return err
		}})
	}
	syncer := controller.NewGroup(st.elector, ctrls...)
	if len(ctrls) > 0 { // none (--adapters none): nothing to run
		group.Add(component.Component{Name: "controllers", Run: func(ctx context.Context) error {
			syncer.Run(ctx)
			return nil
		}})
	}

	// gNMI
	if cfg.GNMIListen != "" {
		gs, gaddr, err := gnmi.Listen(eng, gnmi.ListenConfig{
			Addr: cfg.GNMIListen, CertFile: tr.gnmiCert, KeyFile: tr.gnmiKey, ClientCAFile: tr.gnmiClientCA,
			Tokens: tokens, JWT: jwtVerifier(jwt), InsecureNoAuth: cfg.GNMIInsecureNoAuth, AnonymousGroups: cfg.GNMIAnonymousGroups, MaxMsgSize: cfg.GNMIMaxMsgSize,
		}, gnmi.Options{Logger: log, Registerer: reg, Sync: syncer, Authorizer: pol, Audit: trail,
			MaxConns: cfg.GNMIMaxConns, MaxConnsPerSource: cfg.GNMIMaxConnsPerSource, MaxStreamsPerConn: cfg.GNMIMaxStreamsPerConn,
			MaxSubscriptionsPerPrincipal: cfg.GNMIMaxSubscriptionsPerPrincipal, IdleTimeout: cfg.GNMIIdleTimeout})
		if err != nil {
			return fmt.Errorf("gnmi: %w", err)
		}
		defer gs.Stop(5 * time.Second) // when set-up fails before the group runs
		// A dead gNMI listener stops amp serve: clients of a server that
		// is up but not listening would only see refused connections.
		group.Add(component.Component{Name: "gnmi", Stop: func() { gs.Stop(5 * time.Second) }, Run: func(context.Context) error {
			return <-gs.Served()
		}})
		log.Info("gnmi serving", "address", gaddr.String(), "tls", tr.gnmiCert != "", "mtls", tr.gnmiClientCA != "", "auth", !cfg.GNMIInsecureNoAuth)
	}
	// end gNMI

	var specOnce sync.Once
	var specJSON, specYAML []byte
	var specErr error
	api, err := rest.New(rest.Options{
		Engine: eng, Auth: authn, Authorizer: pol, Audit: trail, Tokens: tokens, Logger: log, Registry: reg, Limits: cfg.Limits, Sync: syncer, Ready: group.Ready,
		Version: cfg.Version, StoreKind: StoreKind(cfg.Store), BackupKey: backupKey, CORSOrigins: cfg.CORSOrigins,
		Spec: func(yaml bool) ([]byte, error) {
			specOnce.Do(func() {
				doc, err := openapi.Build(sch, cfg.Version)
				if err != nil {
					specErr = err
					return
				}
				if specJSON, specErr = openapi.JSON(doc); specErr == nil {
					specYAML, specErr = openapi.YAML(doc)
				}
			})
			if yaml {
				return specYAML, specErr
			}
			return specJSON, specErr
		},
	})
	if err != nil {
		return err
	}
	if cfg.PprofListen != "" {
		pc, err := pprofComponent(cfg.PprofListen, log)
		if err != nil {
			return err
		}
		group.Add(pc)
	}
	rawLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ln := limitConnections(rawLn, cfg.MaxConns, cfg.MaxConnsPerSource, reg)
	parked := parkConnections(ln.Addr(), reg)
	srv := &http.Server{
		// Handlers may park a waiting request's connection (the agents'
		// long-polls, internal/park); parked answers it comes back here.
		BaseContext:       func(net.Listener) context.Context { return parked.Context(context.Background()) },
		Handler:           portal.Mount(api, reg, portal.SignIn{OIDCIssuer: cfg.OIDCIssuer, OIDCClientID: cfg.OIDCClientID}), // the web portal at / and /portal/ (docs/portal.md); every other path is the API
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          httpErrorLog(log),
	}
	tr.hint(os.Stderr, ln.Addr().String())
	log.Info("amp serving", append([]any{"address", tr.scheme() + "://" + ln.Addr().String(), "data_dir", cfg.DataDir, "version", cfg.Version}, tr.logAttrs()...)...)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	var shutdownErr error
	group.Add(component.Component{Name: "rest",
		Run: func(context.Context) error {
			go func() { _ = srv.Serve(parked) }() // ends with srv, as ln does
			if err := tr.serve(srv, ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		// Graceful: requests in progress get up to 10 s to finish.
		Stop: func() {
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				shutdownErr = fmt.Errorf("shutdown: %w", err)
			}
		}})
	if err := group.Run(ctx); err != nil {
		return err
	}
	return shutdownErr
}

// recoverAudit records, from the configuration's transaction log, every
// write of this replica that has no audit record: records wait in a queue
// for the disk, so a crash (or a trail that could not be written) can lose
// some, but never the writes themselves. It checks every transaction after
// the last one checked (audit.Log.RecoveredThrough), so a gap anywhere is
// filled, and a transaction that has a record is never recorded twice. The
// re-recorded record keeps the principal, groups, address and interface
// the transaction log holds. why says why the records were missing, and
// level how loudly to say it (a lost record warns; the demo's own load at
// start-up, recorded this way on purpose, does not).
func recoverAudit(ctx context.Context, eng *config.Engine, st store.Store, trail *audit.Log, replica, why string, level slog.Level, log *slog.Logger) error {
	done, err := trail.RecoveredThrough()
	if err != nil {
		return err
	}
	head := eng.Snapshot().Index
	n, gone := 0, 0
	for i := max(done+1, st.FirstIndex()); i <= head; i++ {
		if ok, err := trail.Audited(i); err != nil {
			return err
		} else if ok {
			continue
		}
		rec, err := eng.Transaction(i)
		if err != nil {
			gone++ // compacted meanwhile
			continue
		}
		if rec.Replica != replica {
			continue // another replica's write, in that replica's trail
		}
		var paths []string
		for _, c := range eng.Changes(rec) {
			paths = append(paths, c.Path)
		}
		iface := audit.REST
		if rec.Source == "gnmi" {
			iface = audit.GNMI
		}
		trail.Enqueue(ctx, audit.Record{Principal: rec.Principal, Groups: rec.Groups, Source: rec.Address, Interface: iface,
			Action: "write", Paths: paths, Transaction: rec.Index, Outcome: audit.Allowed, Reason: why,
			Details: map[string]any{"committed": rec.Time, "source": rec.Source}})
		n++
	}
	if err := trail.Sync(); err != nil {
		// Serve anyway: reads go on, writes are refused until the trail
		// takes records, and the next start checks these transactions again.
		log.Error("audit: cannot record the writes found without a record; writes are refused until the trail can be written", "from", done+1, "through", head, "error", err)
		return nil
	}
	if err := trail.SetRecoveredThrough(head); err != nil {
		return err
	}
	if n > 0 || gone > 0 {
		log.Log(ctx, level, "audit records re-recorded from the transaction log", "transactions", n, "compacted_unrecorded", gone, "through", head, "why", why)
	}
	return nil
}

// jwtVerifier returns v as the gNMI JWT verifier, nil (not a nil pointer in
// an interface) when OIDC is off.
func jwtVerifier(v *auth.OIDC) interface {
	Verify(ctx context.Context, raw string) (*auth.Principal, error)
} {
	if v == nil {
		return nil
	}
	return v
}

// firstToken creates the admin token on first start and writes it, readable
// only by the owner, into the data dir.
func firstToken(dir string, st store.Store, tokens *auth.Tokens, log *slog.Logger) error {
	if b, err := st.GetMeta("admin-token-created"); err != nil {
		return err
	} else if b != nil {
		return nil
	}
	secret, tok, err := tokens.Create("admin", "admin", []auth.Right{{Role: auth.RoleOperator}})
	if err != nil {
		return err
	}
	path := filepath.Join(dir, TokenFile)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	if err := st.PutMeta("admin-token-created", []byte(tok.ID)); err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	log.Info("created the first admin API token", "file", abs, "hint", "export AMP_TOKEN=$(cat "+shellQuote(abs)+")")
	fmt.Fprintf(os.Stderr, "\nAMP created an admin API token in %s\n  export AMP_TOKEN=$(cat %s)\n\n", abs, shellQuote(abs))
	return nil
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " '\"$`\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
