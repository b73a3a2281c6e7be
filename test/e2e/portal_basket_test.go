package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
)

const sbCamerasREST = "/aether/v2.1.x/starbucks/site/starbucks-seattle/device-group/cameras"

// portalShots is where the browser test writes screenshots of the views it
// drives (make portal-screenshots: docs/portal/, shown in docs/portal.md).
var portalShots = flag.String("portal-screenshots", "", "write screenshots of the portal's main views into this directory")

// shot writes a screenshot of the page (1280×1000) as name.png when
// -portal-screenshots names a directory.
func (p *page) shot(name string) {
	p.t.Helper()
	if *portalShots == "" {
		return
	}
	p.do(chromedp.EmulateViewport(1280, 1000))
	ctx, cancel := p.bound()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(*portalShots, name+".png"), png, 0o644)
	}
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
}

// goTo moves the portal to path as its own links do (History API): the
// page, and the credential and basket in its memory, stay. It returns
// once the portal has rendered the new view (a task later).
func (p *page) goTo(path string) {
	p.t.Helper()
	q, _ := json.Marshal(path)
	ctx, cancel := p.bound()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`new Promise((done) => { history.pushState(null, "", %s); dispatchEvent(new PopStateEvent("popstate")); setTimeout(() => done(true), 10) })`, q),
		chromedp.EvalAwaitPromise)); err != nil {
		p.t.Fatalf("go to %s: %v", path, err)
	}
}

// stage edits the uplink of the device group the tab shows and adds the
// edit to the basket, and waits for the entry to have read itself again
// (with its where-used and sync panels): no call is left under way.
func (p *page) stage(uplink string) {
	p.t.Helper()
	p.follow("#edit-button")
	p.typeInto(`[data-field="mbr/uplink"] input`, uplink)
	p.follow("#stage")
	p.do(chromedp.WaitVisible(chromedp.CSS("#staged-note")), chromedp.WaitVisible(chromedp.CSS("#used-by")), chromedp.WaitVisible(chromedp.CSS("#sync")))
}

// restAs reads path through REST with token, decoding the JSON answer.
func restAs(t *testing.T, s *testenv.Server, token, path string, v any) {
	t.Helper()
	code, body, _, err := s.Do(context.Background(), "GET", path, "", "Authorization", "Bearer "+token)
	if err != nil || code != 200 || json.Unmarshal(body, v) != nil {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
}

// TestPortalBasketHistoryInChromium drives the portal's basket, history,
// rollback, audit trail, where-used, sync status and operators' views in
// Debian's Chromium against the real binary with the demo data, and
// checks each against what the REST API answers.
func TestPortalBasketHistoryInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	b := newBrowser(t, s)
	var basketIndex, laterIndex int

	t.Run("an operator's basket across two enterprises commits one transaction", func(t *testing.T) {
		p := b.tab(t, "/portal/browse"+camerasREST)
		p.do(chromedp.WaitVisible(chromedp.CSS("#token")))
		p.shot("sign-in")
		p.signIn(s.Token)
		p.stage("31000000")
		p.goTo("/portal/browse" + sbCamerasREST)
		p.stage("32000000")
		if got := p.text("#nav-basket"); got != "Basket (2)" {
			t.Errorf("the header shows %q, want two staged edits", got)
		}
		before := newestIndex(t, s)
		p.follow("#nav-basket")
		p.do(chromedp.WaitVisible(chromedp.CSS("#staged")))
		if n := p.count("#staged tbody tr"); n != 2 {
			t.Fatalf("the basket holds %d edits, want 2", n)
		}
		p.follow("#basket-dry-run")
		preview := p.text("#basket-preview")
		p.shot("basket")
		for _, want := range []string{camerasREST + "/mbr/uplink", "31000000", sbCamerasREST + "/mbr/uplink", "32000000"} {
			if !strings.Contains(preview, want) {
				t.Errorf("the dry run's preview lacks %q: %q", want, preview)
			}
		}
		if newestIndex(t, s) != before {
			t.Fatal("the dry run committed")
		}
		p.follow("#basket-commit")
		basketIndex = before + 1
		p.textWith("#committed", fmt.Sprintf("transaction %d.", basketIndex))
		var tx struct {
			Targets []string
			Changes []struct{ Path string }
		}
		restAs(t, s, s.Token, fmt.Sprintf("/transactions/%d", basketIndex), &tx)
		if newestIndex(t, s) != basketIndex || len(tx.Changes) != 2 || strings.Join(tx.Targets, ",") != "acme,starbucks" {
			t.Fatalf("want one transaction of both edits: newest %d, %+v", newestIndex(t, s), tx)
		}
		if uplink(t, s) != "31000000" {
			t.Errorf("acme's uplink through REST: %s", uplink(t, s))
		}
		if got := p.text("#nav-basket"); got != "Basket (0)" {
			t.Errorf("after the commit the header shows %q", got)
		}
		p.follow("#nav-history")
		if got := p.text(fmt.Sprintf(`#history tr[data-index="%d"] .targets`, basketIndex)); got != "acme, starbucks" {
			t.Errorf("the history's row of the basket names %q", got)
		}
		p.shot("history")
		if got := p.text(fmt.Sprintf(`#history tr[data-index="%d"]`, basketIndex)); !strings.Contains(got, "portal basket: 2 edits") {
			t.Errorf("the history's row of the basket reads %q, want its message", got)
		}
		if p.exists(fmt.Sprintf(`#history tr[data-index="%d"]`, basketIndex+1)) {
			t.Error("the history shows a second transaction for one basket")
		}
	})

	t.Run("a conflicting basket edit is refused, shown, rebased and committed", func(t *testing.T) {
		p := b.tab(t, "/portal/browse"+camerasREST)
		p.signIn(s.Token)
		p.stage("33000000")
		// someone else changes the object after the edit was staged
		s.Must(t, 200, "PATCH", camerasREST, `{"mbr":{"downlink":1500000}}`)
		before := newestIndex(t, s)
		p.follow("#nav-basket", "#basket-dry-run")
		row := fmt.Sprintf(`#staged tr[data-path="%s"]`, camerasREST)
		if got := p.text(row + " .field-error"); !strings.Contains(got, "read it again") {
			t.Errorf("the conflict shown at the edit reads %q", got)
		}
		if p.exists("#basket-preview") || newestIndex(t, s) != before {
			t.Fatal("a basket with a stale edit was previewed or committed")
		}
		p.shot("basket-conflict")
		p.follow(row + " button.rebase")
		if got := p.text(row + " .rebased"); !strings.Contains(got, "Rebased") {
			t.Errorf("after the rebase the edit reads %q", got)
		}
		p.follow("#basket-dry-run", "#basket-commit")
		laterIndex = before + 1
		p.textWith("#committed", fmt.Sprintf("transaction %d.", laterIndex))
		var mbr struct{ Uplink, Downlink int }
		restAs(t, s, s.Token, camerasREST+"/mbr", &mbr)
		if mbr.Uplink != 33000000 || mbr.Downlink != 1500000 {
			t.Errorf("after the rebased commit: %+v, want the staged uplink over the other writer's downlink", mbr)
		}
	})

	t.Run("a refused token keeps the basket for the next sign-in", func(t *testing.T) {
		id, tok := portalToken(t, s, "portal-basket-keeper", "operator", "")
		p := b.tab(t, "/portal/browse"+camerasREST)
		p.signIn(tok)
		p.stage("34000000")
		s.Must(t, 200, "DELETE", "/tokens/"+id, "")
		// the dry run is refused (401): signed out, the basket kept
		p.follow("#nav-basket", "#basket-dry-run")
		p.textWith("#basket-kept", "1 staged edit")
		p.signIn(s.Token)
		p.do(chromedp.WaitVisible(chromedp.CSS("#staged")))
		if n := p.count("#staged tbody tr"); n != 1 {
			t.Errorf("after signing in again the basket holds %d edits, want 1", n)
		}
		p.follow("#basket-discard")
		p.do(chromedp.WaitVisible(chromedp.CSS("#basket-empty")))
		if uplink(t, s) != "33000000" {
			t.Error("a discarded edit was committed")
		}
	})

	t.Run("rollback from the history view, the server's conflict report first", func(t *testing.T) {
		p := b.tab(t, fmt.Sprintf("/portal/history/%d", basketIndex))
		p.signIn(s.Token)
		before := newestIndex(t, s)
		p.follow("#rollback")
		// the later basket changed the same leaf: the server refuses, naming it
		if got := p.text("#rollback-refused"); !strings.Contains(got, "409") || !strings.Contains(got, camerasREST+"/mbr/uplink") {
			t.Errorf("the refused rollback shows %q", got)
		}
		if newestIndex(t, s) != before {
			t.Fatal("a refused rollback committed")
		}
		p.goTo(fmt.Sprintf("/portal/history/%d", laterIndex))
		p.follow("#rollback")
		if got := p.text("#rollback-preview"); !strings.Contains(got, camerasREST+"/mbr/uplink") || !strings.Contains(got, "31000000") {
			t.Errorf("the rollback's dry run reads %q", got)
		}
		p.shot("rollback")
		p.follow("#rollback-confirm")
		p.textWith("#rolled-back", fmt.Sprintf("transaction %d.", before+1))
		var tx struct {
			Source     string
			RollbackOf int `json:"rollback-of"`
		}
		restAs(t, s, s.Token, fmt.Sprintf("/transactions/%d", before+1), &tx)
		if uplink(t, s) != "31000000" || tx.Source != "rollback" || tx.RollbackOf != laterIndex {
			t.Errorf("after the rollback: uplink %s, transaction %+v", uplink(t, s), tx)
		}
		// the configuration as it was after the rolled-back transaction
		p.follow(`#at-links a.at-link[href*="/acme?at="]`)
		p.textWith("#at", fmt.Sprintf("after transaction %d", laterIndex))
		p.follow(`a[data-list="site"]`, `#list a[href*="/site/acme-chicago"]`, `a[data-list="device-group"]`, `#list a[href*="/device-group/cameras"]`)
		p.textWith("#config", "33000000")
		if p.exists("#edit-button") {
			t.Error("the past is offered for editing")
		}
	})

	t.Run("an enterprise member sees only its enterprise's transactions and no rollback", func(t *testing.T) {
		_, member := portalToken(t, s, "portal-history-member", "enterprise-member", "acme")
		p := b.tab(t, "/portal/history")
		p.signIn(member)
		p.do(chromedp.WaitVisible(chromedp.CSS("#history tbody tr")))
		var rest []struct{ Index int }
		restAs(t, s, member, "/amp/transactions?limit=50", &rest)
		if n := p.count("#history tbody tr"); n != len(rest) || n == 0 {
			t.Errorf("the member's history shows %d transactions, the server answers %d", n, len(rest))
		}
		for _, tx := range rest {
			if got := p.text(fmt.Sprintf(`#history tr[data-index="%d"] .targets`, tx.Index)); got != "acme" {
				t.Errorf("the member is shown transaction %d of %q", tx.Index, got)
			}
		}
		if p.exists(fmt.Sprintf(`#history tr[data-index="%d"]`, basketIndex)) {
			t.Error("the member is shown the basket that touched starbucks")
		}
		p.follow(fmt.Sprintf(`#history tr[data-index="%d"] a`, rest[0].Index))
		p.do(chromedp.WaitVisible(chromedp.CSS("#txn-changes")))
		if p.exists("#rollback") || p.exists("#rollback-panel") {
			t.Error("an enterprise member is offered a rollback")
		}
		p.goTo(fmt.Sprintf("/portal/history/%d", basketIndex))
		if got := p.text(".refusal"); !strings.Contains(got, "404") {
			t.Errorf("the member opening the basket's transaction by URL sees %q", got)
		}
		p.goTo("/portal/audit")
		p.do(chromedp.WaitVisible(chromedp.CSS("#audit tbody tr")))
		if got := p.text("#audit"); strings.Contains(got, "/starbucks/") {
			t.Errorf("the member's audit trail shows starbucks: %.500s", got)
		}
	})

	t.Run("an enterprise admin rolls back its own enterprise's transaction from the history view", func(t *testing.T) {
		_, admin := portalToken(t, s, "portal-history-admin", "enterprise-admin", "acme")
		before := string(s.Must(t, 200, "GET", camerasREST+"/display-name", ""))
		code, body, h, err := s.Do(context.Background(), "PATCH", camerasREST, `{"display-name":"Renamed by acme"}`, "Authorization", "Bearer "+admin)
		if err != nil || code != 200 {
			t.Fatalf("acme's admin edits its device group: %d %s %v", code, body, err)
		}
		own := h.Get("X-AMP-Transaction-Index")
		p := b.tab(t, "/portal/history/"+own)
		p.signIn(admin)
		p.do(chromedp.WaitVisible(chromedp.CSS("#txn-changes")))
		p.follow("#rollback")
		p.textWith("#rollback-preview", camerasREST+"/display-name")
		p.follow("#rollback-confirm")
		for deadline := time.Now().Add(20 * time.Second); string(s.Must(t, 200, "GET", camerasREST+"/display-name", "")) != before; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after acme's admin rolled back, display-name = %s, want %s", s.Must(t, 200, "GET", camerasREST+"/display-name", ""), before)
			}
		}
		p.goTo(fmt.Sprintf("/portal/history/%d", basketIndex))
		if got := p.text(".refusal"); !strings.Contains(got, "404") {
			t.Errorf("acme's admin opening the basket's transaction (it touched starbucks) sees %q", got)
		}
	})

	t.Run("the audit trail says who, what, when and from where", func(t *testing.T) {
		p := b.tab(t, "/portal/audit")
		p.signIn(s.Token)
		row := fmt.Sprintf(`#audit tr:has(a[href="/portal/history/%d"])`, basketIndex)
		got := p.text(row)
		if !strings.Contains(got, camerasREST) || !strings.Contains(got, sbCamerasREST) || !strings.Contains(got, "allowed") {
			t.Errorf("the basket's audit record reads %q", got)
		}
		if from := p.text(row + " .source"); !strings.HasPrefix(from, "127.0.0.1:") {
			t.Errorf("the record's source address is %q", from)
		}
		p.shot("audit")
	})

	t.Run("where-used and sync status of an entry", func(t *testing.T) {
		_, admin := portalToken(t, s, "portal-where-used", "enterprise-admin", "acme")
		p := b.tab(t, "/portal/browse"+camerasREST)
		p.signIn(admin)
		slice := "/aether/v2.1.x/acme/site/acme-chicago/slice/video/device-group/cameras"
		if got := p.text("#used-by"); !strings.Contains(got, slice) {
			t.Errorf("cameras is used by %q, want the slice video", got)
		}
		uses := p.text("#uses")
		for _, want := range []string{"/aether/v2.1.x/acme/traffic-class/class-1", "/aether/v2.1.x/acme/site/acme-chicago/ip-domain/pool-1"} {
			if !strings.Contains(uses, want) {
				t.Errorf("cameras uses %q, want %s", uses, want)
			}
		}
		p.follow(`#uses a[href$="/traffic-class/class-1"]`)
		usedBy := p.textWith("#used-by", "/application/acme-video/endpoint/rtsp")
		if !strings.Contains(usedBy, camerasREST) || !strings.Contains(usedBy, "/acme-dallas/device-group/cameras") {
			t.Errorf("class-1 is used by %q", usedBy)
		}

		// a commit waits for the backends and says what they did; the
		// entry's sync status is the server's
		p.goTo("/portal/browse" + camerasREST)
		p.follow("#edit-button")
		p.typeInto(`[data-field="mbr/uplink"] input`, "35000000")
		p.follow("#dry-run", "#commit")
		verdict := p.text("#verdict")
		var rest struct {
			Objects []struct{ Adapter, ID, Status string }
		}
		restAs(t, s, admin, "/sync-status?path="+camerasREST, &rest)
		if len(rest.Objects) == 0 {
			t.Fatal("no backend object derives from cameras: the demo's emulated SD-Core should")
		}
		for _, o := range rest.Objects {
			if o.Status != "in-sync" {
				t.Errorf("REST sync status of %s %s: %s", o.Adapter, o.ID, o.Status)
			}
		}
		if !strings.Contains(verdict, "Backends: in-sync") || !strings.Contains(verdict, rest.Objects[0].Adapter) {
			t.Errorf("the commit's verdict reads %q, the server says %+v", verdict, rest.Objects)
		}
		p.do(chromedp.WaitVisible(chromedp.CSS("#sync tbody tr")))
		if n := p.count(`#sync tbody tr[data-status="in-sync"]`); n != len(rest.Objects) {
			t.Errorf("the sync panel shows %d objects in sync, the server %d: %s", n, len(rest.Objects), p.text("#sync"))
		}
		p.shot("entry")
	})

	t.Run("operators see the clusters' links and facts; enterprise admins do not", func(t *testing.T) {
		s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[{"cluster-id":"ace-x","namespace":["ran"]}]}`)
		agent := newLinkAgent(t, s, "ace-x")
		full, _ := agent.desired(nil, "0s")
		c := &wire.Checkin{AgentVersion: "v9.9.9-portal", AgentTime: time.Now(),
			Facts:   wire.Facts{KubernetesVersion: "v1.35.4", Nodes: []wire.Node{{Name: "server-1", Ready: true}}},
			Applied: wire.Applied{Index: full.Index, Digest: full.Digest}}
		for _, o := range full.Objects {
			c.Objects = append(c.Objects, wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest, State: wire.StateApplied, At: time.Now()})
		}
		agent.checkin(c)

		p := b.tab(t, "/")
		p.signIn(s.Token)
		p.do(chromedp.WaitVisible(chromedp.CSS("#model-sets")), chromedp.WaitVisible(chromedp.CSS("#nav-clusters")))
		p.shot("model-sets")
		p.follow("#nav-clusters")
		row := `#clusters tr[data-cluster="ace-x"]`
		if got := p.text(row + " .connected"); got != "yes" {
			t.Errorf("ace-x connected: %q", got)
		}
		if got := p.text(row + " .in-sync"); got != "yes" {
			t.Errorf("ace-x in sync: %q", got)
		}
		if got := p.text(row); !strings.Contains(got, "v9.9.9-portal") {
			t.Errorf("ace-x's row reads %q", got)
		}
		p.shot("clusters")
		p.follow(row + " a")
		if got := p.text("#facts"); !strings.Contains(got, "v1.35.4") || !strings.Contains(got, "server-1") {
			t.Errorf("ace-x's facts read %q", got)
		}
		p.shot("cluster")
		// the fleet set through the generic views
		p.goTo("/portal/browse/fleet/v1.0.0")
		lists := p.text("#lists")
		for _, want := range []string{"git-repo", "rollout", "cluster-group"} {
			if !strings.Contains(lists, want) {
				t.Errorf("the fleet set's root lists %q, want %s", lists, want)
			}
		}

		_, admin := portalToken(t, s, "portal-no-ops", "enterprise-admin", "acme")
		q := b.tab(t, "/")
		q.signIn(admin)
		q.do(chromedp.WaitVisible(chromedp.CSS("#model-sets")))
		if q.exists("#nav-clusters") {
			t.Error("an enterprise admin is offered the clusters view")
		}
		q.goTo("/portal/clusters")
		if got := q.text("#clusters"); strings.Contains(got, "ace-x") {
			t.Errorf("an enterprise admin opening the clusters view by URL sees %q", got)
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.ContainsFunc(b.requests, func(u string) bool { return strings.HasPrefix(u, s.URL+"/transactions?wait=applied") }) {
		t.Error("the basket's commit never went to POST /transactions")
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
