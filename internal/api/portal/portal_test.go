package portal

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// built is a portal build output as web/build.mjs writes it.
var built = fstest.MapFS{
	"index.html":              {Data: []byte(`<!doctype html><script type="module" src="/portal/assets/main-ABC123.js"></script>`)},
	"assets/main-ABC123.js":   {Data: []byte(`console.log("portal")`)},
	"assets/main-DEF456.css":  {Data: []byte(`body{}`)},
	"README.md":               {Data: []byte("placeholder")},
	"assets/nested/other.txt": {Data: []byte("x")},
}

// api stands for the REST API: it answers every request it gets, naming
// the path, so a test sees which requests the portal passed on.
var api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"api":"`+r.URL.Path+`"}`)
})

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPortalServesTheApplicationAtItsOwnPathsOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := New(built, reg)
	h := p.Wrap(api)
	for _, path := range []string{"/", "/portal", "/portal/", "/portal/browse/aether/v2.1.x/acme/site", "/portal/anything?x=1"} {
		r := get(t, h, http.MethodGet, path)
		if r.StatusCode != 200 || !strings.Contains(body(t, r), "main-ABC123.js") {
			t.Errorf("GET %s: %d, want the application", path, r.StatusCode)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store (a new binary's portal must be picked up)", path, cc)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	// Every other path is the API's, whatever it looks like.
	for _, path := range []string{"/models", "/spec", "/metrics", "/healthz", "/readyz", "/aether/v2.1.x/acme/site", "/inventory/v1.0.0/site",
		"/aether-2.1.0-openapi3.yaml", "/portalx", "/index.html", "/assets/main-ABC123.js", "/no/such/route"} {
		r := get(t, h, http.MethodGet, path)
		if got := body(t, r); got != `{"api":"`+path+`"}` {
			t.Errorf("GET %s went to the portal (%q), not the API", path, got)
		}
		if r.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: the portal's headers were added to an API answer", path)
		}
	}
	if got := testutil.ToFloat64(p.served.WithLabelValues("index")); got != 5 {
		t.Errorf("amp_portal_requests_total{served=index} = %v, want 5", got)
	}
}

func TestPortalHeadersAreStrict(t *testing.T) {
	h := New(built, nil).Wrap(api)
	for _, path := range []string{"/", "/portal/assets/main-ABC123.js", "/portal/assets/nope.js"} {
		r := get(t, h, http.MethodGet, path)
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
			t.Errorf("GET %s: CSP %q allows inline code or a remote origin", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
}

func TestPortalAssetsAreCachedForGoodAndMissingOnesAre404(t *testing.T) {
	h := New(built, nil).Wrap(api)
	r := get(t, h, http.MethodGet, "/portal/assets/main-ABC123.js")
	if r.StatusCode != 200 || body(t, r) != `console.log("portal")` {
		t.Fatalf("asset: %d", r.StatusCode)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("hashed asset: Cache-Control %q, want a year, immutable", cc)
	}
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("asset Content-Type %q", ct)
	}
	if ct := get(t, h, http.MethodGet, "/portal/assets/main-DEF456.css").Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
	// A missing asset is 404, never the application (a stale page asking
	// for an old bundle must fail visibly), and never a file outside assets/.
	for _, path := range []string{"/portal/assets/main-OLD.js", "/portal/assets/", "/portal/assets/../index.html", "/portal/assets/%2e%2e/README.md"} {
		r := get(t, h, http.MethodGet, path)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.StatusCode)
		}
		if b := body(t, r); strings.Contains(b, "<script") || strings.Contains(b, "placeholder") {
			t.Errorf("GET %s served %q", path, b)
		}
	}
	if r := get(t, h, http.MethodHead, "/portal/assets/main-ABC123.js"); r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD asset: %d", r.StatusCode)
	}
}

func TestPortalRefusesWrites(t *testing.T) {
	h := New(built, nil).Wrap(api)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := get(t, h, m, "/portal/")
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /portal/: %d Allow %q", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
}

func TestBinaryWithoutThePortalSaysHowToBuildIt(t *testing.T) {
	p := New(fstest.MapFS{"README.md": {Data: []byte("placeholder")}}, nil)
	if p.Built() {
		t.Fatal("a dist holding only the README counts as built")
	}
	h := p.Wrap(api)
	for _, path := range []string{"/", "/portal/browse/x", "/portal/assets/main-ABC123.js"} {
		r := get(t, h, http.MethodGet, path)
		b := body(t, r)
		if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "make portal") {
			t.Errorf("GET %s: %d %q, want 503 saying to run make portal", path, r.StatusCode, b)
		}
		if r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: the not-built page has no CSP", path)
		}
	}
	if got := body(t, get(t, h, http.MethodGet, "/models")); got != `{"api":"/models"}` {
		t.Errorf("without the portal the API still answers: got %q", got)
	}
}

// TestSignInOffersTheOIDCProvider: without a provider the sign-in page is
// told tokens only and the CSP connects to this origin alone; with one, it
// is told the issuer and client id, and connect-src adds the issuer's
// origin and nothing else.
func TestSignInOffersTheOIDCProvider(t *testing.T) {
	r := get(t, New(built, nil).Wrap(api), http.MethodGet, SignInPath)
	if got := body(t, r); r.StatusCode != 200 || got != `{"oidc":null}` || r.Header.Get("Content-Security-Policy") != CSP {
		t.Errorf("tokens only: %d %s, CSP %q", r.StatusCode, got, r.Header.Get("Content-Security-Policy"))
	}
	h := New(built, nil).WithSignIn(SignIn{OIDCIssuer: "https://idp.example.com:8443/realms/aether", OIDCClientID: "amp"}).Wrap(api)
	r = get(t, h, http.MethodGet, SignInPath)
	if got := body(t, r); got != `{"oidc":{"issuer":"https://idp.example.com:8443/realms/aether","client-id":"amp"}}` {
		t.Errorf("with a provider: %s", got)
	}
	for _, path := range []string{"/", SignInPath, "/portal/assets/main-ABC123.js"} {
		csp := get(t, h, http.MethodGet, path).Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "connect-src 'self' https://idp.example.com:8443;") || strings.Count(csp, "idp.example.com") != 1 {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if got := body(t, get(t, New(built, nil).WithSignIn(SignIn{OIDCIssuer: "not a url"}).Wrap(api), http.MethodGet, SignInPath)); got != `{"oidc":null}` {
		t.Errorf("a malformed issuer is offered: %s", got)
	}
}
