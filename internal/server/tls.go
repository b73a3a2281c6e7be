package server

// Transport security of `amp serve` (docs/tls.md): HTTPS for REST and TLS
// (with mutual TLS) for gNMI, with the dev PKI tlsutil creates in
// <data-dir>/tls unless the operator gives a certificate; plain HTTP and
// plaintext gRPC only when asked for, and only on loopback.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/tlsutil"
)

// TLSDir is where the dev PKI lives in the data dir.
const TLSDir = "tls"

// transport is what setupTransport decided.
type transport struct {
	rest     *tls.Config // nil: plain HTTP (--insecure-http)
	restCert string      // the certificate REST serves
	dev      *tlsutil.Dev
	// caFile is the CA clients should trust: the dev CA when REST serves
	// the dev certificate, else "".
	caFile string
	// gNMI: an empty gnmiCert means plaintext.
	gnmiCert, gnmiKey, gnmiClientCA string
}

func (t *transport) scheme() string {
	if t.rest == nil {
		return "http"
	}
	return "https"
}

// serve serves srv on ln, over TLS unless --insecure-http.
func (t *transport) serve(srv *http.Server, ln net.Listener) error {
	if t.rest == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = t.rest
	return srv.ServeTLS(ln, "", "") // adds h2 to the ALPN protocols
}

// acceptAgents lets edge agents present their client certificates
// (internal/edge/ca). They are verified per request, not at the handshake,
// so that a certificate of another CA, an expired one or a revoked one is
// answered 401 with its reason (and audited) rather than with a TLS alert.
// Without --tls-client-ca the server asks for a certificate and lets the
// request through with or without one. With it, a certificate stays
// required and is verified at the handshake against --tls-client-ca as
// before, unless the agent CA issued it.
func (t *transport) acceptAgents(agents *ca.CA) {
	if t.rest == nil {
		return
	}
	operator := t.rest.ClientCAs
	if operator == nil {
		t.rest.ClientAuth = tls.RequestClientCert
		return
	}
	t.rest.ClientAuth = tls.RequireAnyClientCert
	// Clients pick the certificate a listed CA issued: list both.
	advertised := operator.Clone()
	advertised.AddCert(agents.Cert())
	t.rest.ClientCAs = advertised
	t.rest.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("client certificate: %w", err)
			}
			certs[i] = c
		}
		if agents.Issuer(certs[0]) {
			return nil // checked by the agent CA at every request
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: operator, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
}

// serverCA is the PEM CA bundle of the certificate REST serves when AMP
// runs the local CA (agents pin it), else nil.
func (t *transport) serverCA() ([]byte, error) {
	if t.caFile == "" {
		return nil, nil
	}
	return os.ReadFile(t.caFile)
}

// logAttrs are the "amp serving" log line's TLS attributes.
func (t *transport) logAttrs() []any {
	a := []any{"tls", t.rest != nil}
	if t.rest != nil {
		a = append(a, "cert", t.restCert, "mtls", t.rest.ClientCAs != nil)
	}
	if t.caFile != "" {
		a = append(a, "ca", t.caFile, "ca_sha256", t.dev.CAFingerprint)
	}
	return a
}

// hint prints, on first start, how to trust the new local CA.
func (t *transport) hint(w io.Writer, addr string) {
	if t.dev == nil || !t.dev.CreatedCA {
		return
	}
	ca := shellQuote(t.dev.CA)
	url := "https://" + clientAddr(addr)
	fmt.Fprintf(w, "\nAMP created a local certificate authority in %s (SHA-256 %s).\n", t.dev.Dir, t.dev.CAFingerprint)
	if t.caFile != "" {
		fmt.Fprintf(w, "Trust it for HTTPS (the amp CLI on this machine finds it by itself):\n  export AMP_CA=%s\n  curl --cacert \"$AMP_CA\" -H \"Authorization: Bearer $AMP_TOKEN\" %s/enterprises\n", ca, url)
	}
	if t.gnmiClientCA == t.dev.CA {
		fmt.Fprintf(w, "gNMI mutual TLS as admin: gnmi_cli -ca_crt %s -client_crt %s -client_key %s\n",
			ca, shellQuote(t.dev.ClientCert), shellQuote(t.dev.ClientKey))
	}
	fmt.Fprintln(w)
}

// clientAddr turns a bound address into one a local client can dial.
func clientAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// setupTransport checks the listen and TLS flags and prepares the
// certificates: the operator's (--tls-cert), or the dev PKI, created on
// first start and renewed when close to expiry.
func setupTransport(cfg Config, log *slog.Logger) (*transport, error) {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if err := checkListen(cfg.Listen, cfg.InsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.InsecureHTTP && (cfg.TLSCert != "" || cfg.TLSClientCA != "") {
		return nil, errors.New("--insecure-http serves plain HTTP: it cannot be combined with --tls-cert, --tls-key or --tls-client-ca")
	}
	t := &transport{}

	// gNMI: the --gnmi-tls-* files; else plaintext when asked for (or
	// implied by --gnmi-insecure-no-auth, which is loopback only anyway);
	// else the REST certificate with mutual TLS.
	gnmiExplicit := cfg.GNMITLSCert != "" || cfg.GNMITLSKey != ""
	gnmiPlain := !gnmiExplicit && (cfg.GNMIInsecurePlaintext || cfg.GNMIInsecureNoAuth)
	gnmiDefault := cfg.GNMIListen != "" && !gnmiExplicit && !gnmiPlain
	if cfg.GNMIInsecurePlaintext && gnmiExplicit {
		return nil, errors.New("--gnmi-insecure-plaintext cannot be combined with --gnmi-tls-cert/--gnmi-tls-key")
	}
	if cfg.GNMIListen != "" && gnmiPlain {
		loop, err := tlsutil.IsLoopback(cfg.GNMIListen)
		if err != nil {
			return nil, fmt.Errorf("--gnmi-listen %q: %w", cfg.GNMIListen, err)
		}
		if !loop {
			flag := "--gnmi-insecure-plaintext"
			if !cfg.GNMIInsecurePlaintext {
				flag = "--gnmi-insecure-no-auth"
			}
			return nil, fmt.Errorf("%s (plaintext gNMI) is only allowed on a loopback --gnmi-listen address, not %s: drop it to serve gNMI over TLS", flag, cfg.GNMIListen)
		}
	}
	if gnmiPlain && cfg.GNMITLSClientCA != "" {
		return nil, errors.New("--gnmi-tls-client-ca (mutual TLS) needs TLS: drop --gnmi-insecure-plaintext/--gnmi-insecure-no-auth, or give --gnmi-tls-cert and --gnmi-tls-key")
	}
	if gnmiExplicit {
		t.gnmiCert, t.gnmiKey, t.gnmiClientCA = cfg.GNMITLSCert, cfg.GNMITLSKey, cfg.GNMITLSClientCA
	}

	cert, key := cfg.TLSCert, cfg.TLSKey
	if cert == "" && (!cfg.InsecureHTTP || gnmiDefault) {
		dir, err := filepath.Abs(filepath.Join(cfg.DataDir, TLSDir))
		if err != nil {
			return nil, err
		}
		dev, err := tlsutil.EnsureDev(dir, tlsutil.Options{SANs: append(listenHosts(cfg), cfg.TLSSANs...)})
		if err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
		t.dev, cert, key = dev, dev.Cert, dev.Key
		switch {
		case dev.CreatedCA:
			log.Info("created a local CA and certificates", "dir", dev.Dir, "ca", dev.CA, "ca_sha256", dev.CAFingerprint, "not_after", dev.NotAfter)
		case dev.RenewedServer:
			log.Info("issued a new server certificate from the local CA", "cert", dev.Cert, "not_after", dev.NotAfter)
		}
		if dev.RenewedClient && !dev.CreatedCA {
			log.Info("issued a new admin client certificate from the local CA", "cert", dev.ClientCert)
		}
	} else if cert != "" {
		if c, err := tlsutil.LoadCert(cert); err == nil && time.Until(c.NotAfter) < tlsutil.RenewBefore {
			log.Warn("the TLS certificate expires soon", "cert", cert, "not_after", c.NotAfter)
		}
	}

	if !cfg.InsecureHTTP {
		tc, err := tlsutil.ServerConfig(cert, key, cfg.TLSClientCA, true)
		if err != nil {
			return nil, fmt.Errorf("REST TLS: %w", err)
		}
		t.rest, t.restCert = tc, cert
		if t.dev != nil {
			t.caFile = t.dev.CA
		}
	}
	if gnmiDefault {
		t.gnmiCert, t.gnmiKey = cert, key
		// A client CA makes certificates identities for gNMI, so it is
		// only the one the operator names for gNMI, or the local CA that
		// AMP itself runs (its admin-client certificate); --tls-client-ca,
		// which REST adds to tokens, never names gNMI principals.
		switch {
		case cfg.GNMITLSClientCA != "":
			t.gnmiClientCA = cfg.GNMITLSClientCA
		case t.dev != nil:
			t.gnmiClientCA = t.dev.CA
		}
	}
	return t, nil
}

// listenHosts are the specific hosts (not wildcards) the listeners bind,
// for the dev server certificate's names.
func listenHosts(cfg Config) []string {
	var hs []string
	for _, a := range []string{cfg.Listen, cfg.GNMIListen} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hs = append(hs, h)
			}
		}
	}
	return hs
}

// checkListen refuses plain HTTP off loopback: bearer tokens would cross
// the network in clear text.
func checkListen(addr string, insecureHTTP bool) error {
	loop, err := tlsutil.IsLoopback(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if insecureHTTP && !loop {
		return fmt.Errorf("--insecure-http is only allowed on a loopback --listen address, not %s: plain HTTP would send bearer tokens in clear text; drop --insecure-http to serve HTTPS (docs/tls.md)", addr)
	}
	return nil
}

// httpErrorLog sends net/http's own messages to the structured log: TLS
// handshake failures (a client that does not trust the CA, or speaks plain
// HTTP) at debug, the rest at warn.
func httpErrorLog(l *slog.Logger) *log.Logger {
	return log.New(httpLogWriter{l}, "", 0)
}

type httpLogWriter struct{ l *slog.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		w.l.Debug(msg, "component", "http")
	} else {
		w.l.Warn(msg, "component", "http")
	}
	return len(p), nil
}
