package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestPortalBasketSurvivesRestartInChromium kills `amp serve` (kill -9)
// under a page holding a basket of two edits: a commit while the server
// is down shows the error and keeps the basket; once the server is back
// on the same data dir and address, the same page commits the basket as
// one transaction (signing in again if the server asks), and nothing of
// it was committed before.
func TestPortalBasketSurvivesRestartInChromium(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--demo", "--listen", listen)
	b := newBrowser(t, s)

	p := b.tab(t, "/portal/browse"+camerasREST)
	p.signIn(s.Token)
	p.stage("36000000")
	p.goTo("/portal/browse" + sbCamerasREST)
	p.stage("37000000")
	p.follow("#nav-basket", "#basket-dry-run")
	p.do(chromedp.WaitVisible(chromedp.CSS("#basket-commit")))
	before := newestIndex(t, s)
	acme := uplink(t, s)

	s.Kill()
	// the server is down: the commit fails, says so, and keeps the basket
	p.follow("#basket-commit")
	if got := p.text("#basket .refusal"); !strings.Contains(got, "could not be reached") {
		t.Errorf("a commit to a server that is down shows %q", got)
	}
	if p.exists("#basket-commit") || p.exists("#committed") {
		t.Error("a commit to a server that is down still offers the commit or reports one")
	}
	if n := p.count("#staged tbody tr"); n != 2 {
		t.Fatalf("after a failed commit the basket holds %d edits, want 2", n)
	}
	if got := p.text("#nav-basket"); got != "Basket (2)" {
		t.Errorf("after a failed commit the header shows %q", got)
	}

	s = testenv.Start(t, dir, "--demo", "--listen", listen)
	if newestIndex(t, s) != before || uplink(t, s) != acme {
		t.Fatalf("the failed commit changed something: newest %d (was %d), uplink %s (was %s)", newestIndex(t, s), before, uplink(t, s), acme)
	}
	// the same page, after the restart: a dry run, then the commit; a
	// server that no longer takes the credential asks for a sign-in and
	// the basket waits for it
	p.follow("#basket-dry-run")
	ctx, cancel := p.bound()
	shows, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.querySelector("#basket-commit") !== null ? "preview" : document.querySelector("#basket-kept") !== null ? "sign-in" : null`))
	cancel()
	if err != nil {
		t.Fatalf("after the restart the dry run shows neither its preview nor a sign-in: %v\npage: %s", err, excerpt(p.html(), 2000))
	}
	t.Logf("after the restart the dry run shows the %s", shows)
	if shows == "sign-in" {
		p.textWith("#basket-kept", "2 staged edits")
		p.signIn(s.Token)
		p.follow("#basket-dry-run")
	}
	if n := p.count("#staged tbody tr"); n != 2 {
		t.Fatalf("after the restart the basket holds %d edits, want 2", n)
	}
	p.follow("#basket-commit")
	p.textWith("#committed", fmt.Sprintf("transaction %d.", before+1))

	var tx struct {
		Targets []string
		Changes []struct{ Path string }
	}
	restAs(t, s, s.Token, fmt.Sprintf("/transactions/%d", before+1), &tx)
	var paths []string
	for _, c := range tx.Changes {
		paths = append(paths, c.Path)
	}
	slices.Sort(paths)
	if newestIndex(t, s) != before+1 || strings.Join(tx.Targets, ",") != "acme,starbucks" ||
		strings.Join(paths, " ") != camerasREST+"/mbr/uplink "+sbCamerasREST+"/mbr/uplink" {
		t.Fatalf("want one transaction of both edits: newest %d (before %d), %+v", newestIndex(t, s), before, tx)
	}
	if uplink(t, s) != "36000000" {
		t.Errorf("acme's uplink through REST: %s", uplink(t, s))
	}
	if got := p.text("#nav-basket"); got != "Basket (0)" {
		t.Errorf("after the commit the header shows %q", got)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pr := range b.problems {
		t.Errorf("browser: %s", pr)
	}
}
