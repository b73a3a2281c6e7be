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

	"github.com/amp-edge/amp/internal/adapter/gnmipush"
	"github.com/amp-edge/amp/internal/adapter/sdcore"
	"github.com/amp-edge/amp/internal/api/gnmi"
	"github.com/amp-edge/amp/internal/api/openapi"
	"github.com/amp-edge/amp/internal/api/rest"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/demo"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// Config is everything `amp serve` takes.
type Config struct {
	DataDir     string
	Listen      string
	ModelDirs   []string
	Demo        bool
	MaxBody     int64
	RetainCount uint64
	RetainAge   time.Duration
	// InsecureRemote allows plain HTTP on a non-loopback address.
	InsecureRemote bool
	Version        string
	Logger         *slog.Logger
	// Ready, when set, receives the bound address once the server listens.
	Ready func(addr string)

	// gNMI (docs/gnmi.md): served when GNMIListen is set.
	GNMIListen         string
	GNMITLSCert        string
	GNMITLSKey         string
	GNMITLSClientCA    string // mutual TLS: client certificate CN = principal
	GNMIInsecureNoAuth bool   // loopback only: calls without credentials run as "anonymous"
	GNMIMaxMsgSize     int
	// end gNMI

	// Adapters (docs/sdcore.md): which southbound adapters run.
	Adapters []string // "sdcore"; empty: none
	// SDCoreIPDomainsList sends device groups in webconsole's current
	// "ip-domains" list form instead of the legacy "ip-domain-expanded".
	SDCoreIPDomainsList bool
	// ProbeEvery is how often backends are asked what they hold.
	ProbeEvery time.Duration
	// GNMIPushConfig names a file of subtrees to push to gNMI targets
	// (docs/controllers.md); set, it runs the gnmi adapter.
	GNMIPushConfig string
}

// TokenFile is where the first admin token is written in the data dir.
const TokenFile = "admin.token"

// Run serves until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := checkListen(cfg.Listen, cfg.InsecureRemote); err != nil {
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
	st, err := store.OpenBolt(cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := config.Open(sch, st, config.Options{
		Logger: log, Metrics: config.NewMetrics(reg), RetainCount: cfg.RetainCount, RetainAge: cfg.RetainAge,
	})
	if err != nil {
		return fmt.Errorf("open configuration: %w", err)
	}
	defer eng.Close()

	tokens := auth.NewTokens(st)
	if err := firstToken(cfg.DataDir, st, tokens, log); err != nil {
		return err
	}
	if cfg.Demo {
		if eng.Snapshot().Index == 0 {
			n, err := demo.Load(ctx, eng)
			if err != nil {
				return fmt.Errorf("load demo data: %w", err)
			}
			log.Info("demo data loaded", "transactions", n, "index", eng.Snapshot().Index)
		} else {
			log.Info("store is not empty; demo data not loaded again", "index", eng.Snapshot().Index)
		}
	}

	// Controllers: one per adapter, all fed by the engine's watch.
	var ctrls []*controller.Controller
	cm := controller.NewMetrics(reg)
	for _, name := range cfg.Adapters {
		switch name {
		case "sdcore":
			ctrls = append(ctrls, controller.New(eng, sdcore.New(sdcore.Options{IPDomainsList: cfg.SDCoreIPDomainsList}),
				controller.Options{Logger: log, Metrics: cm, ProbeEvery: cfg.ProbeEvery}))
		case "", "none":
		default:
			return fmt.Errorf("--adapters: unknown adapter %q (known: sdcore, none)", name)
		}
	}
	if cfg.GNMIPushConfig != "" {
		pc, err := gnmipush.LoadConfig(cfg.GNMIPushConfig)
		if err != nil {
			return err
		}
		ad, err := gnmipush.New(sch, pc)
		if err != nil {
			return fmt.Errorf("--gnmi-push-config: %w", err)
		}
		defer ad.Close()
		ctrls = append(ctrls, controller.New(eng, ad, controller.Options{Logger: log, Metrics: cm, ProbeEvery: cfg.ProbeEvery}))
	}
	syncer := controller.NewGroup(ctrls...)
	ctrlCtx, stopCtrls := context.WithCancel(ctx)
	ctrlDone := make(chan struct{})
	go func() { syncer.Run(ctrlCtx); close(ctrlDone) }()
	defer func() { stopCtrls(); <-ctrlDone }()

	// gNMI
	if cfg.GNMIListen != "" {
		gs, gaddr, err := gnmi.Listen(eng, gnmi.ListenConfig{
			Addr: cfg.GNMIListen, CertFile: cfg.GNMITLSCert, KeyFile: cfg.GNMITLSKey, ClientCAFile: cfg.GNMITLSClientCA,
			Tokens: tokens, InsecureNoAuth: cfg.GNMIInsecureNoAuth, InsecureRemote: cfg.InsecureRemote, MaxMsgSize: cfg.GNMIMaxMsgSize,
		}, gnmi.Options{Logger: log, Registerer: reg, Sync: syncer})
		if err != nil {
			return fmt.Errorf("gnmi: %w", err)
		}
		defer gs.Stop(5 * time.Second)
		log.Info("gnmi serving", "address", gaddr.String(), "tls", cfg.GNMITLSCert != "", "mtls", cfg.GNMITLSClientCA != "", "auth", !cfg.GNMIInsecureNoAuth)
	}
	// end gNMI

	var specOnce sync.Once
	var specJSON, specYAML []byte
	var specErr error
	api := rest.New(rest.Options{
		Engine: eng, Auth: tokens, Logger: log, Registry: reg, MaxBody: cfg.MaxBody, Sync: syncer,
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
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("amp serving", "address", "http://"+ln.Addr().String(), "data_dir", cfg.DataDir, "version", cfg.Version)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// checkListen refuses plain HTTP off loopback unless asked for explicitly:
// tokens would cross the network in clear text.
func checkListen(addr string, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return nil
	}
	if !insecure {
		return fmt.Errorf("--listen %s is not a loopback address: this build serves plain HTTP, which would send bearer tokens in clear text; pass --insecure-remote to do it anyway", addr)
	}
	return nil
}

// firstToken creates the admin token on first start and writes it, readable
// only by the owner, into the data dir.
func firstToken(dir string, st store.Store, tokens *auth.Tokens, log *slog.Logger) error {
	if b, err := st.GetMeta("admin-token-created"); err != nil {
		return err
	} else if b != nil {
		return nil
	}
	secret, tok, err := tokens.Create("admin", "admin", []string{"AetherROCAdmin"})
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
