package gnmi

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
)

// ListenConfig is how `amp serve` runs gNMI (the --gnmi-* flags).
type ListenConfig struct {
	Addr string
	// CertFile and KeyFile enable TLS; ClientCAFile adds mutual TLS.
	CertFile, KeyFile, ClientCAFile string
	// Tokens validates bearer tokens.
	Tokens auth.TokenChecker
	// JWT verifies OIDC bearer tokens (nil: API tokens only).
	JWT interface {
		Verify(ctx context.Context, raw string) (*auth.Principal, error)
	}
	// InsecureNoAuth lets calls without credentials in as "anonymous"
	// (tests and local tools such as gnmi_cli, which cannot send a bearer
	// token). Refused unless Addr is a loopback address.
	InsecureNoAuth bool
	// AnonymousGroups are the groups (so the rights, through the policy) of
	// "anonymous" under InsecureNoAuth: none unless the operator names them
	// (--gnmi-anonymous-groups), so anonymous callers may list Capabilities
	// and nothing else.
	AnonymousGroups []string
	MaxMsgSize      int
}

// Listen checks cfg, binds its address and serves gNMI in the background;
// Stop ends it, and Served tells why serving ended. opts supplies the
// logger, metrics registry and authorizer.
func Listen(eng *config.Engine, cfg ListenConfig, opts Options) (*Server, net.Addr, error) {
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, nil, errors.New("--gnmi-tls-cert and --gnmi-tls-key go together")
	}
	if cfg.ClientCAFile != "" && cfg.CertFile == "" {
		return nil, nil, errors.New("--gnmi-tls-client-ca (mutual TLS) needs --gnmi-tls-cert and --gnmi-tls-key")
	}
	loopback, err := isLoopback(cfg.Addr)
	if err != nil {
		return nil, nil, err
	}
	if cfg.InsecureNoAuth && !loopback {
		return nil, nil, fmt.Errorf("--gnmi-insecure-no-auth is only allowed on a loopback --gnmi-listen address, not %s", cfg.Addr)
	}
	if cfg.CertFile == "" && !loopback {
		return nil, nil, fmt.Errorf("--gnmi-listen %s is not a loopback address: plaintext gNMI would send bearer tokens in clear text; serve it with TLS (the default; see docs/tls.md)", cfg.Addr)
	}
	if cfg.CertFile != "" {
		tc, err := auth.ServerTLS(cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile)
		if err != nil {
			return nil, nil, err
		}
		opts.TLS = tc
	}
	ga := &auth.GRPCAuth{Tokens: cfg.Tokens, JWT: cfg.JWT}
	if cfg.InsecureNoAuth {
		ga.Anonymous = &auth.Principal{Name: "anonymous", Via: "none", Groups: cfg.AnonymousGroups}
	} else if len(cfg.AnonymousGroups) > 0 {
		return nil, nil, errors.New("--gnmi-anonymous-groups needs --gnmi-insecure-no-auth: without it there are no anonymous calls")
	}
	opts.Auth = ga
	if cfg.MaxMsgSize > 0 {
		opts.MaxMsgSize = cfg.MaxMsgSize
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s, err := New(eng, opts)
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.Serve(lis) }()
	return s, lis.Addr(), nil
}

// Served delivers, once, what ended the serving Listen started: nil after
// Stop, else the listener's failure, for the caller to act on (amp serve
// stops: a dead gNMI listener must not go unnoticed).
func (s *Server) Served() <-chan error { return s.served }

func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--gnmi-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
