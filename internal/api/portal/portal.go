// Package portal serves AMP's web portal (docs/portal.md) from the same
// origin and TLS listener as the REST API: GET / and every path under
// /portal/ are the portal's, everything else goes to the API untouched, so
// the portal can never shadow an API route.
//
// The assets are the build output of web/ (TypeScript, built by `make
// portal`), embedded in the binary; a binary built without them serves a
// page saying how to build them. Every answer carries a strict
// Content-Security-Policy (scripts, styles and connections from this origin
// only: no inline script, no remote asset) and nosniff. Assets have hashed
// names and are cached for a year; index.html is never stored, so a new
// binary's portal is picked up at the next load.
//
// The portal's files are public: they hold no data, and the sign-in page
// must load before the user has a token. Every call the portal makes is an
// API call, authenticated and authorized as any other.
package portal

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/web"
)

// Prefix is where the portal's own routes live: its assets under
// Prefix+"assets/", its views (the single-page application's routes)
// everywhere else below it. No model set may be named "portal".
const Prefix = "/portal/"

// CSP is the Content-Security-Policy of every portal answer: nothing but
// this origin's own files, no inline script or style, no framing. With
// OIDC sign-in, connect-src adds the provider's origin (its discovery
// document and token endpoint), and nothing else.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// SignInPath is where the portal learns how users sign in: public (the
// sign-in page reads it before anyone has a token), it names no more than
// a browser sees in the redirect to the provider anyway.
const SignInPath = Prefix + "sign-in.json"

// SignIn says how the portal's users sign in besides an API token: the
// OIDC provider amp serve trusts (--oidc-issuer, --oidc-client-id), for
// the authorization code flow with PKCE in the browser. Empty: tokens only.
type SignIn struct {
	OIDCIssuer   string `json:"issuer,omitempty"`
	OIDCClientID string `json:"client-id,omitempty"`
}

// Portal serves the portal's files.
type Portal struct {
	files    fs.FS
	index    []byte // nil: the portal was not built into this binary
	served   *prometheus.CounterVec
	modified time.Time
	csp      string
	signIn   []byte // SignInPath's answer
}

// New serves the build output in files (index.html and assets/); reg,
// when set, receives amp_portal_requests_total.
func New(files fs.FS, reg prometheus.Registerer) *Portal {
	p := &Portal{files: files, modified: time.Now(), csp: CSP, signIn: []byte(`{"oidc":null}`)}
	if b, err := fs.ReadFile(files, "index.html"); err == nil {
		p.index = b
	}
	p.served = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_portal_requests_total",
		Help: "Portal requests by what was served: index (the application), asset, missing-asset, not-built (the page saying how to build the portal), sign-in (how users sign in), method-not-allowed.",
	}, []string{"served"})
	if reg != nil {
		reg.MustRegister(p.served)
	}
	return p
}

// WithSignIn offers OIDC sign-in when s names a provider: the sign-in
// page reads it from SignInPath, and the CSP lets the page reach the
// provider's origin (an issuer that is not an absolute http(s) URL offers
// nothing: amp serve refuses such an issuer at start anyway).
func (p *Portal) WithSignIn(s SignIn) *Portal {
	u, err := url.Parse(s.OIDCIssuer)
	if s.OIDCIssuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return p
	}
	b, _ := json.Marshal(map[string]SignIn{"oidc": s})
	p.signIn = b
	p.csp = strings.Replace(CSP, "connect-src 'self'", "connect-src 'self' "+u.Scheme+"://"+u.Host, 1)
	return p
}

// Mount puts the portal embedded in this binary (web.Dist) in front of
// api: the one place amp serve mounts it.
func Mount(api http.Handler, reg prometheus.Registerer, s SignIn) http.Handler {
	return New(web.Dist(), reg).WithSignIn(s).Wrap(api)
}

// Built reports whether the binary holds the portal's build output.
func (p *Portal) Built() bool { return p.index != nil }

// Wrap answers GET / and Prefix… itself and passes every other request to
// api.
func (p *Portal) Wrap(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != strings.TrimSuffix(Prefix, "/") && !strings.HasPrefix(r.URL.Path, Prefix) {
			api.ServeHTTP(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
}

// ServeHTTP serves one of the portal's paths.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.served.WithLabelValues("method-not-allowed").Inc()
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the portal's files are read with GET", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == SignInPath {
		p.served.WithLabelValues("sign-in").Inc()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(p.signIn)
		return
	}
	if !p.Built() {
		p.served.WithLabelValues("not-built").Inc()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(notBuilt))
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, Prefix+"assets/"); ok {
		p.asset(w, r, name)
		return
	}
	// / and every other path under Prefix: the application, which routes
	// the path itself (a reload or a shared link of a view lands here).
	p.served.WithLabelValues("index").Inc()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", p.modified, bytes.NewReader(p.index))
}

// asset serves one file of assets/: its name holds its content's hash, so
// it may be cached for good.
func (p *Portal) asset(w http.ResponseWriter, r *http.Request, name string) {
	clean := path.Clean("assets/" + name)
	b, err := fs.ReadFile(p.files, clean)
	if name == "" || !strings.HasPrefix(clean, "assets/") || err != nil {
		p.served.WithLabelValues("missing-asset").Inc()
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such portal asset: "+path.Base(clean), http.StatusNotFound)
		return
	}
	p.served.WithLabelValues("asset").Inc()
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, clean, p.modified, bytes.NewReader(b))
}

// notBuilt is served instead of the portal by a binary built without it.
const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AMP portal not built</title></head>
<body>
<h1>The AMP portal is not built into this binary</h1>
<p>This amp binary was built without the portal's assets. Build them, then build amp again:</p>
<pre>make portal        # npm ci + typecheck + build into web/dist
make build         # or: go build ./cmd/amp (embeds web/dist)</pre>
<p><code>make run</code> does both. See docs/portal.md. The REST API is served as usual.</p>
</body></html>
`
