package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/idp"
)

// TestPortalOIDCSignInInChromium: with amp serve trusting the test's OIDC
// provider (oidc-provider over an LDAP directory), the portal offers
// signing in with it; alice logs in on the provider's own form in the
// pop-up (authorization code + PKCE), comes back signed in as herself with
// her LDAP groups' rights (acme's admin: acme only), and leaves nothing
// in the browser's storage.
func TestPortalOIDCSignInInChromium(t *testing.T) {
	port := etcd.FreePort(t)
	p, err := idp.Run(context.Background(), idp.Options{Dir: t.TempDir(), RedirectURIs: []string{"https://127.0.0.1:" + port + "/portal/callback"}, WebClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s := testenv.Start(t, t.TempDir(), "--demo", "--listen", "127.0.0.1:"+port, "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID)
	b := newBrowser(t, s)
	tab := b.tab(t, "/portal/browse/aether/v2.1.x/acme/site")

	// the provider's login form opens in a pop-up: a target of its own
	popups := chromedp.WaitNewTarget(tab.tab, func(i *target.Info) bool { return i.Type == "page" })
	tab.follow("#oidc-sign-in")
	popup, cancel := chromedp.NewContext(tab.tab, chromedp.WithTargetID(<-popups))
	defer cancel()
	login := &page{t: t, tab: popup}
	login.do(chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "alice-pw"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	// back in the portal: signed in as alice, on the view she opened
	if got := tab.text("#signed-in"); !strings.Contains(got, "OIDC login (alice)") {
		t.Errorf("the header reads %q", got)
	}
	tab.do(chromedp.WaitVisible(chromedp.CSS(`#list a[href$="/site/acme-chicago"]`)))
	tab.follow("a.brand")
	if home := tab.text("#model-sets"); strings.Contains(home, "Starbucks") || !strings.Contains(home, "ACME") {
		t.Errorf("alice (acme-admin in the directory) is offered %q: want acme only", home)
	}
	tab.follow("#sign-out")
	tab.do(chromedp.WaitVisible(chromedp.CSS("#oidc-sign-in")))
	stored, err := chromedp.Run(tab.tab, chromedp.Evaluate[string](`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
	if err != nil || stored != `[0,0,""]` {
		t.Errorf("the browser keeps something: %s %v", stored, err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		if !strings.HasPrefix(u, s.URL+"/") && !strings.HasPrefix(u, p.Issuer+"/") {
			t.Errorf("the portal requested %s, neither its own origin nor the provider's", u)
		}
	}
	for _, pr := range b.problems {
		t.Errorf("browser: %s", pr)
	}
}
