package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestPortalBesideTheAPI: amp serve answers / and /portal/… with the
// portal, under a strict CSP, and every API path exactly as before.
func TestPortalBesideTheAPI(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	ctx := context.Background()
	for _, path := range []string{"/", "/portal/", "/portal/browse/aether/v2.1.x/acme/site"} {
		code, body, hdr, err := s.Do(ctx, "GET", path, "", "Authorization", "")
		if err != nil || code != 200 || !strings.Contains(string(body), `<div id="app">`) {
			t.Fatalf("GET %s: %d %v: %.200s (built with make portal?)", path, code, err, body)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: nosniff %q, Cache-Control %q", path, hdr.Get("X-Content-Type-Options"), hdr.Get("Cache-Control"))
		}
	}
	// The API keeps answering as the API: JSON or problem+json, its own
	// authentication, never the portal's page.
	for _, c := range []struct {
		path  string
		token bool
		code  int
		ctype string
	}{
		{"/healthz", false, 200, ""},
		{"/readyz", false, 200, ""},
		{"/models", false, 401, "application/problem+json"},
		{"/models", true, 200, "application/json"},
		{"/spec", true, 200, "application/json"},
		{"/metrics", true, 200, "text/plain"},
		{"/enterprises", true, 200, "application/json"},
		{"/aether/v2.1.x/acme/site", true, 200, "application/json"},
		{"/aether/v2.1.x/acme/site", false, 401, "application/problem+json"},
		{"/inventory/v1.0.0/site", true, 200, "application/json"},
		{"/aether-2.1.0-openapi3.yaml", true, 200, ""},
		{"/no/such/route", true, 404, "application/problem+json"},
		{"/portalx", true, 404, "application/problem+json"},
	} {
		hdr := []string{}
		if !c.token {
			hdr = []string{"Authorization", ""}
		}
		code, body, h, err := s.Do(ctx, "GET", c.path, "", hdr...)
		if err != nil || code != c.code || !strings.HasPrefix(h.Get("Content-Type"), c.ctype) || strings.Contains(string(body), `<div id="app">`) {
			t.Errorf("GET %s (token %v): %d %q %v, want %d %q from the API: %.200s", c.path, c.token, code, h.Get("Content-Type"), err, c.code, c.ctype, body)
		}
		if h.Get("Content-Security-Policy") != "" {
			t.Errorf("GET %s: the portal answered an API path", c.path)
		}
	}
}

// browser runs Debian's Chromium headless for one test; the tabs it opens
// record every URL they request and every script error or CSP violation.
type browser struct {
	browser context.Context
	origin  string

	mu       sync.Mutex
	requests []string
	problems []string
}

func newBrowser(t testing.TB, s *testenv.Server) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is needed for the portal's browser tests (scripts/test-deps.sh installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		// The server's certificate chains to the test's own local CA.
		chromedp.Flag("ignore-certificate-errors", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, which lives as long as ctx
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{browser: ctx, origin: s.URL}
}

// page is one tab, driven by one (sub)test.
type page struct {
	t   testing.TB
	tab context.Context
}

// bound bounds one action on the tab: a bound on a hang, not an
// assertion on speed.
func (p *page) bound() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.tab, 30*time.Second)
}

// tab opens a new tab (its own page: nothing in memory) at path, closed
// when t ends.
func (b *browser) tab(t testing.TB, path string) *page {
	t.Helper()
	tab, cancel := chromedp.NewContext(b.browser)
	t.Cleanup(cancel)
	err := chromedp.Listen(tab, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, fmt.Sprintf("exception: %s (%s:%d)", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		case *cdplog.EventEntryAdded:
			// refused API calls log as network errors, on purpose; anything
			// else at error level (a CSP violation, a script error) is a bug
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	if _, err := chromedp.Call(tab, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("Log.enable: %v", err)
	}
	p := &page{t: t, tab: tab}
	p.do(chromedp.Navigate(b.origin + path))
	return p
}

// do runs the steps, failing the test with the page's HTML when one fails.
func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("chromedp: %v\npage: %s", err, excerpt(p.html(), 2000))
	}
}

// excerpt is the head and the tail of a long page, n bytes each: a
// failure's cause is as often at the end of the page as at its start.
func excerpt(h string, n int) string {
	if len(h) <= 2*n {
		return h
	}
	return h[:n] + " … " + h[len(h)-n:]
}

func (p *page) html() string {
	ctx, cancel := p.bound()
	defer cancel()
	h, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return h
}

// text waits for the element sel and returns its text.
func (p *page) text(sel string) string {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := p.bound()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// textWith waits until the element sel holds want (a view may render
// twice: before and after it reloads) and returns its text; when it does
// not, the test fails with what the element holds.
func (p *page) textWith(sel, want string) string {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	q, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	got, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(
		"(() => { const e = document.querySelector(%s); return e !== null && e.textContent.includes(%s) ? e.textContent : false })()", q, w)))
	if err != nil {
		p.t.Fatalf("%s never held %q (%v): it holds %q", sel, want, err, p.text(sel))
	}
	return got
}

// exists reports whether the page holds an element sel now.
func (p *page) exists(sel string) bool {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	ctx, cancel := p.bound()
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%s) !== null", q)))
	if err != nil {
		p.t.Fatalf("query %s: %v", sel, err)
	}
	return ok
}

// count is how many elements match sel now.
func (p *page) count(sel string) int {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	q, _ := json.Marshal(sel)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%s).length", q)))
	if err != nil {
		p.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// signIn signs in on the sign-in page the tab shows.
func (p *page) signIn(token string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`#sign-in button[type="submit"]`)))
}

// follow clicks the elements named by sels in turn, each once it shows.
func (p *page) follow(sels ...string) {
	p.t.Helper()
	for _, sel := range sels {
		p.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	}
}

// typeInto replaces a form field's value as a user would: selects what
// it holds, then types over it.
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf("(document.querySelector(%s).select(), true)", q))(ctx, t)
			return err
		}),
		chromedp.SendKeys(chromedp.CSS(sel), text))
	if got := p.value(sel); got != text {
		p.t.Fatalf("typed %q into %s, which holds %q", text, sel, got)
	}
}

// value is a form field's value.
func (p *page) value(sel string) string {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("value of %s: %v", sel, err)
	}
	return v
}

// portalToken creates an API token through REST and returns its id and secret.
func portalToken(t *testing.T, s *testenv.Server, name, role, enterprise string) (id, secret string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)
	if enterprise != "" {
		body = fmt.Sprintf(`{"name":%q,"role":%q,"enterprise":%q}`, name, role, enterprise)
	}
	var tok struct{ ID, Token string }
	if err := json.Unmarshal(s.Must(t, 201, "POST", "/tokens", body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token %s: %v", name, err)
	}
	return tok.ID, tok.Token
}

// newestIndex is the index of the newest transaction.
func newestIndex(t *testing.T, s *testenv.Server) int {
	t.Helper()
	var txs []struct{ Index int }
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions?limit=1", ""), &txs); err != nil || len(txs) != 1 {
		t.Fatalf("transactions: %v %v", txs, err)
	}
	return txs[0].Index
}

const camerasREST = "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"

// toCameras clicks from the landing page to acme's device group cameras.
var toCameras = []string{
	`#model-sets tr[data-set="aether/2.1.x"] a.enterprise[href$="/acme"]`,
	`a[data-list="site"]`,
	`#list a[href$="/site/acme-chicago"]`,
	`a[data-list="device-group"]`,
	`#list a[href$="/device-group/cameras"]`,
}

func uplink(t *testing.T, s *testenv.Server) string {
	t.Helper()
	return strings.TrimSpace(string(s.Must(t, 200, "GET", camerasREST+"/mbr/uplink", "")))
}

// TestPortalInChromium drives the portal in Debian's Chromium against the
// real binary with the demo data: sign-in (refused, accepted, revoked),
// the generated views, an edit refused then committed, the rights of each
// persona, and that nothing is loaded from outside the server.
func TestPortalInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	b := newBrowser(t, s)

	t.Run("a refused token shows the server's reason", func(t *testing.T) {
		code, body, _, err := s.Do(context.Background(), "GET", "/models", "", "Authorization", "Bearer not-a-token")
		var refused struct{ Errors []struct{ Reason string } }
		if err != nil || code != 401 || json.Unmarshal(body, &refused) != nil || len(refused.Errors) == 0 {
			t.Fatalf("REST with a bad token: %d %v %s", code, err, body)
		}
		p := b.tab(t, "/")
		p.signIn("not-a-token")
		if got := p.text("#sign-in-error"); !strings.Contains(got, refused.Errors[0].Reason) {
			t.Errorf("sign-in error %q does not show the server's reason %q", got, refused.Errors[0].Reason)
		}
		if p.exists("#signed-in") {
			t.Error("signed in with a refused token")
		}
	})

	t.Run("an enterprise admin edits a device group: refused at the field, then committed", func(t *testing.T) {
		_, admin := portalToken(t, s, "portal-acme-admin", "enterprise-admin", "acme")
		p := b.tab(t, "/")
		p.signIn(admin)
		if home := p.text("#model-sets"); strings.Contains(home, "Starbucks") || !strings.Contains(home, "ACME") {
			t.Errorf("acme's admin is offered %q: want acme only", home)
		}
		p.follow(toCameras...)
		if cfg := p.text("#config"); !strings.Contains(cfg, "20000000") {
			t.Errorf("cameras' configuration shows %q", cfg)
		}
		before, was := newestIndex(t, s), uplink(t, s)
		p.follow("#edit-button")
		field := `[data-field="mbr/uplink"]`
		p.typeInto(field+" input", "-5")
		p.follow("#dry-run")
		if got := p.text(field + " .field-error"); !strings.Contains(got, "not an unsigned integer") {
			t.Errorf("the server's error at mbr/uplink reads %q", got)
		}
		if newestIndex(t, s) != before || uplink(t, s) != was {
			t.Fatalf("a refused edit committed something")
		}
		// a reference offers the server's choices (…/traffic-class/values)
		if got := p.textWith(`[data-field="traffic-class"] select`, "class-3"); !strings.Contains(got, "class-1") || !strings.Contains(got, "class-2") {
			t.Errorf("the traffic-class field offers %q, want the traffic classes of acme", got)
		}
		p.typeInto(field+" input", "30000000")
		p.follow("#dry-run")
		if got := p.text("#preview"); !strings.Contains(got, camerasREST+"/mbr/uplink") || !strings.Contains(got, "30000000") {
			t.Errorf("the dry run's preview reads %q", got)
		}
		if newestIndex(t, s) != before {
			t.Fatal("the dry run committed")
		}
		p.follow("#commit")
		p.textWith("#committed", fmt.Sprintf("transaction %d.", before+1))
		want := fmt.Sprint(before + 1)
		if uplink(t, s) != "30000000" || newestIndex(t, s) != before+1 {
			t.Fatalf("REST after the commit: uplink %s, newest transaction %d (before %d)", uplink(t, s), newestIndex(t, s), before)
		}
		var tx struct{ Changes []struct{ Path string } }
		if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions/"+want, ""), &tx); err != nil || len(tx.Changes) != 1 || tx.Changes[0].Path != camerasREST+"/mbr/uplink" {
			t.Errorf("the commit's transaction: %+v %v, want the one leaf", tx, err)
		}
		p.textWith("#config", "30000000")
	})

	t.Run("another enterprise's objects are refused by URL", func(t *testing.T) {
		_, admin := portalToken(t, s, "portal-acme-admin-2", "enterprise-admin", "acme")
		p := b.tab(t, "/portal/browse/aether/v2.1.x/starbucks/site")
		p.signIn(admin) // a page load asks again: the token lives in memory only
		if got := p.text(".refusal"); !strings.Contains(got, "starbucks") || !strings.Contains(got, "404") {
			t.Errorf("acme's admin at starbucks' sites sees %q, want the server's refusal", got)
		}
		if p.exists("#list") {
			t.Error("a list of starbucks' sites was shown to acme's admin")
		}
	})

	t.Run("an enterprise member gets no edit controls", func(t *testing.T) {
		_, member := portalToken(t, s, "portal-acme-member", "enterprise-member", "acme")
		p := b.tab(t, "/")
		p.signIn(member)
		p.follow(toCameras...)
		if cfg := p.text("#config"); !strings.Contains(cfg, "Cameras") {
			t.Errorf("the member reads %q", cfg)
		}
		if p.exists("#edit-button") || p.exists("#edit") {
			t.Error("an enterprise member is offered edit controls")
		}
	})

	t.Run("an operator lists the global inventory set, paged and filtered by the server", func(t *testing.T) {
		s.Must(t, 200, "PATCH", "/inventory/v1.0.0/organization/portal-lab", `{"display-name":"Portal lab"}`)
		for i := range 55 {
			s.Must(t, 200, "PATCH", fmt.Sprintf("/inventory/v1.0.0/organization/org-%02d", i), `{}`)
		}
		p := b.tab(t, "/portal/browse/inventory/v1.0.0")
		p.signIn(s.Token)
		p.follow(`a[data-list="organization"]`)
		p.do(chromedp.WaitVisible(chromedp.CSS(`#list a[href$="/organization/org-00"]`)))
		if n := p.count(`#list tbody tr`); n != 50 {
			t.Errorf("the first page holds %d organizations, want 50 (the page size)", n)
		}
		p.follow("#next-page")
		if got := p.text(`#list a[href$="/organization/portal-lab"]`); got != "portal-lab" {
			t.Errorf("the second page links %q", got)
		}
		if n := p.count(`#list tbody tr`); n != 6 {
			t.Errorf("the second page holds %d organizations, want the last 6 of 56", n)
		}
		if got := p.text("#list"); !strings.Contains(got, "Portal lab") {
			t.Errorf("the organization list reads %q", got)
		}
		p.typeInto(`#filter input[aria-label="value"]`, "org-07")
		p.follow(`#filter button[type="submit"]`)
		p.do(chromedp.WaitVisible(chromedp.CSS(`#list a[href$="/organization/org-07"]`)))
		if n := p.count(`#list tbody tr`); n != 1 {
			t.Errorf("filtered by org-id=org-07, the list holds %d rows", n)
		}
		p.follow(`#list a[href$="/organization/org-07"]`, `a.brand`)
		if home := p.text("#model-sets"); !strings.Contains(home, "Starbucks") || !strings.Contains(home, "ACME") {
			t.Errorf("the operator is offered %q: want every enterprise", home)
		}
	})

	t.Run("a revoked token sends the user back to sign-in with the reason", func(t *testing.T) {
		id, tok := portalToken(t, s, "portal-revoked", "operator", "")
		p := b.tab(t, "/")
		p.signIn(tok)
		p.follow(`#model-sets tr[data-set="aether/2.1.x"] a.enterprise[href$="/acme"]`)
		p.do(chromedp.WaitVisible(chromedp.CSS(`a[data-list="site"]`)))
		s.Must(t, 200, "DELETE", "/tokens/"+id, "")
		p.follow(`a[data-list="site"]`)
		if got := p.text("#sign-in-error"); !strings.HasPrefix(got, "Signed out: ") || len(got) < len("Signed out: ")+5 {
			t.Errorf("after revocation the sign-in page reads %q, want the server's reason", got)
		}
		// signing in again lands on the view the user was on
		p.signIn(s.Token)
		p.do(chromedp.WaitVisible(chromedp.CSS(`#list a[href$="/site/acme-chicago"]`)))
	})

	t.Run("sign-out forgets the token", func(t *testing.T) {
		p := b.tab(t, "/")
		p.signIn(s.Token)
		p.follow("#sign-out")
		p.do(chromedp.WaitVisible(chromedp.CSS("#token")))
		stored, err := chromedp.Run(p.tab, chromedp.Evaluate[string](`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
		if err != nil {
			t.Fatal(err)
		}
		if stored != `[0,0,""]` {
			t.Errorf("the browser keeps something: %s", stored)
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	// the network events were seen: the bundle and an API call at least
	if !slices.ContainsFunc(b.requests, func(u string) bool { return strings.Contains(u, "/portal/assets/") }) ||
		!slices.ContainsFunc(b.requests, func(u string) bool { return strings.HasSuffix(u, "/models") }) {
		t.Errorf("the recorded requests lack the bundle or the sign-in's API call: %q", b.requests)
	}
	for _, u := range b.requests {
		if !strings.HasPrefix(u, s.URL+"/") {
			t.Errorf("the portal requested %s, outside its own origin %s", u, s.URL)
		}
	}
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}
