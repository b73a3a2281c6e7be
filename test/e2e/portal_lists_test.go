package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
)

// firstColumn waits until the list view's first column reads want (the
// view renders again once the server has answered) and fails with what it
// reads otherwise.
func (p *page) firstColumn(want []string) {
	p.t.Helper()
	w, _ := json.Marshal(want)
	ctx, cancel := p.bound()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(
		`JSON.stringify([...document.querySelectorAll("#list tbody tr td:first-child")].map((e) => e.textContent)) === %q`, w))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#list tbody tr td:first-child")].map((e) => e.textContent)`))
		p.t.Fatalf("the list's first column reads %v, want %v (%v)", got, want, err)
	}
}

// choose picks value in the select sel as a user would (a change event).
func (p *page) choose(sel, value string) {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(
			`(() => { const s = document.querySelector(%s); s.value = %s; s.dispatchEvent(new Event("change", { bubbles: true })); return s.value === %[2]s })()`, q, v))(ctx, t)
		return err
	}))
	if got := p.value(sel); got != value {
		p.t.Fatalf("chose %q in %s, which holds %q", value, sel, got)
	}
}

// restKeys reads a list page through REST and returns its entries' key
// field and the next page's token.
func restKeys(t testing.TB, s *testenv.Server, path, field string) ([]string, string) {
	t.Helper()
	code, body, h, err := s.Do(context.Background(), "GET", path, "")
	var items []map[string]any
	if err != nil || code != 200 || json.Unmarshal(body, &items) != nil {
		t.Fatalf("GET %s: %d %v %.300s", path, code, err, body)
	}
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprint(it[field]))
	}
	return out, h.Get("X-AMP-Continue")
}

// TestPortalListSortInChromium: a list's column headers sort it on the
// server (ascending, then descending), the next page follows that order,
// and a filter by prefix keeps it: each view equal to what REST answers.
func TestPortalListSortInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	const sims = "/aether/v2.1.x/acme/site/acme-chicago/sim-card"
	// 60 SIM cards whose IMSIs run against their ids: sorting by IMSI is
	// not key order, and more than a page (50)
	var edits []string
	for i := range 60 {
		edits = append(edits, fmt.Sprintf(`{"op":"patch","path":"%s/s-%02d","value":{"imsi":"3150109990%05d"}}`, sims, i, 99999-i))
	}
	s.Must(t, 200, "POST", "/transactions", `{"edits":[`+strings.Join(edits, ",")+`]}`)
	keyOrder, _ := restKeys(t, s, sims+"?limit=50", "sim-id")

	b := newBrowser(t, s)
	p := b.tab(t, "/portal/browse"+sims)
	p.signIn(s.Token)
	p.firstColumn(keyOrder)

	up, _ := restKeys(t, s, sims+"?limit=50&sort=imsi", "sim-id")
	p.follow(`button[data-sort="imsi"]`)
	p.firstColumn(up)
	if got := p.text(`th[aria-sort="ascending"]`); !strings.Contains(got, "imsi") {
		t.Errorf("the sorted column's header reads %q", got)
	}
	if slices.Equal(up, keyOrder) {
		t.Fatalf("sorted by imsi equals key order: the test data does not tell them apart")
	}

	down, next := restKeys(t, s, sims+"?limit=50&sort=-imsi", "sim-id")
	p.follow(`button[data-sort="imsi"]`)
	p.firstColumn(down)
	if down[0] != "s-00" {
		t.Errorf("sorted by -imsi, REST starts with %s, want s-00 (the highest IMSI)", down[0])
	}
	second, _ := restKeys(t, s, sims+"?limit=50&sort=-imsi&continue="+next, "sim-id")
	p.follow("#next-page")
	p.firstColumn(second)

	filtered, _ := restKeys(t, s, sims+"?limit=50&sort=-imsi&filter="+url.QueryEscape("imsi^=31501099909994"), "sim-id")
	p.choose(`#filter select[aria-label="leaf"]`, "imsi")
	p.choose("#filter-op", "^=")
	p.typeInto(`#filter input[aria-label="value"]`, "31501099909994")
	p.follow(`#filter button[type="submit"]`)
	p.firstColumn(filtered)
	if len(filtered) != 10 || filtered[0] != "s-50" {
		t.Errorf("REST by prefix 31501099909994, sorted by -imsi: %v, want s-50..s-59", filtered)
	}
	if got := p.text(`th[aria-sort="descending"]`); !strings.Contains(got, "imsi") {
		t.Errorf("after filtering, the sorted column's header reads %q: the order was lost", got)
	}
}

type sliceFilter struct {
	Application string
	Priority    int
	Allow       bool
}

func filtersOf(t *testing.T, s *testenv.Server, path string) []sliceFilter {
	t.Helper()
	var slice struct{ Filter []sliceFilter }
	if err := json.Unmarshal(s.Must(t, 200, "GET", path+"?with-defaults=report-all", ""), &slice); err != nil {
		t.Fatal(err)
	}
	return slice.Filter
}

// TestPortalNestedListEditInChromium: a slice's filters (a list within
// the slice) edited in its generated form: a row added and another
// changed, the server's error shown at the nested field with nothing
// committed, then committed as one transaction; then a row removed.
func TestPortalNestedListEditInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	const video = "/aether/v2.1.x/acme/site/acme-chicago/slice/video"
	if got := filtersOf(t, s, video); len(got) != 1 || got[0].Application != "acme-video" {
		t.Fatalf("the demo's video slice filters %+v, want acme-video only", got)
	}
	_, admin := portalToken(t, s, "portal-nested-admin", "enterprise-admin", "acme")
	b := newBrowser(t, s)
	p := b.tab(t, "/portal/browse"+video)
	p.signIn(admin)
	p.follow("#edit-button")

	rows := `fieldset[data-list="filter"] tbody tr`
	videoRow := `tr[data-row="filter/acme-video"]`
	p.typeInto(videoRow+` td[data-field="filter/priority"] input`, "250")
	p.follow(`fieldset[data-list="filter"] .add-row`)
	if n := p.count(rows); n != 2 {
		t.Fatalf("after Add, the filter list holds %d rows, want 2", n)
	}
	// the application is a reference: the server's choices
	added := rows + `:last-child`
	p.textWith(added+` td[data-field="filter/application"] select`, "acme-telemetry")
	p.choose(added+` td[data-field="filter/application"] select`, "acme-telemetry")
	p.typeInto(`tr[data-row="filter/acme-telemetry"] td[data-field="filter/priority"] input`, "5")

	before := newestIndex(t, s)
	p.follow("#dry-run")
	if got := p.text(videoRow + ` td[data-field="filter/priority"] .field-error`); !strings.Contains(got, "250") {
		t.Errorf("the server's error at filter/acme-video/priority reads %q", got)
	}
	if newestIndex(t, s) != before || len(filtersOf(t, s, video)) != 1 {
		t.Fatal("a refused edit committed something")
	}

	p.typeInto(videoRow+` td[data-field="filter/priority"] input`, "15")
	p.follow("#dry-run")
	if got := p.text("#preview"); !strings.Contains(got, video+"/filter/acme-telemetry") || !strings.Contains(got, video+"/filter/acme-video/priority") {
		t.Errorf("the dry run's preview reads %q, want the new filter and the changed priority", got)
	}
	if newestIndex(t, s) != before {
		t.Fatal("the dry run committed")
	}
	p.follow("#commit")
	p.textWith("#committed", fmt.Sprintf("transaction %d.", before+1))
	want := []sliceFilter{{"acme-telemetry", 5, true}, {"acme-video", 15, true}}
	if got := filtersOf(t, s, video); !slices.Equal(got, want) || newestIndex(t, s) != before+1 {
		t.Fatalf("REST after the commit: filters %+v (want %+v), newest transaction %d (before %d)", got, want, newestIndex(t, s), before)
	}

	// a row removed is a delete of that entry, in one transaction
	p.follow("#edit-button")
	p.follow(videoRow + " .remove-row")
	p.follow("#dry-run")
	if got := p.text("#preview"); !strings.Contains(got, video+"/filter/acme-video") {
		t.Errorf("the dry run's preview of the removal reads %q", got)
	}
	p.follow("#commit")
	p.textWith("#committed", fmt.Sprintf("transaction %d.", before+2))
	if got := filtersOf(t, s, video); !slices.Equal(got, want[:1]) {
		t.Fatalf("REST after the removal: filters %+v, want %+v", got, want[:1])
	}
	var tx struct{ Changes []struct{ Path, Op string } }
	if err := json.Unmarshal(s.Must(t, 200, "GET", fmt.Sprint("/transactions/", before+2), ""), &tx); err != nil || len(tx.Changes) == 0 {
		t.Fatalf("the removal's transaction: %+v %v", tx, err)
	}
	for _, c := range tx.Changes {
		if !strings.HasPrefix(c.Path, video+"/filter/acme-video") || c.Op != "delete" {
			t.Errorf("the removal's transaction changes %s (%s): want deletes of filter/acme-video only", c.Path, c.Op)
		}
	}
}

type siteInterface struct {
	Name         string
	Type         string
	Parent       string
	MACAddress   string `json:"mac-address"`
	UntaggedVLAN string `json:"untagged-vlan"`
	Description  string
}

// interfacesOf reads a site's device's interfaces through REST, by name.
func interfacesOf(t *testing.T, s *testenv.Server, device string) map[string]siteInterface {
	t.Helper()
	var d struct{ Interface []siteInterface }
	if err := json.Unmarshal(s.Must(t, 200, "GET", device, ""), &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]siteInterface{}
	for _, i := range d.Interface {
		out[i.Name] = i
	}
	return out
}

// TestPortalNestedListsDeepInChromium: the book's site stanford1 (the
// inventory set) edited in its generated form two levels deep, a list in
// an entry of a list: node1's interfaces (site → device → interface).
// Through the basket: an interface's VLAN changed (a leafref whose
// choices the server evaluates from that depth), an interface added on
// another (its parent offered from the device's own interfaces), one
// removed, and a new device added with an interface of its own (its VLAN
// chosen from the server's choices though the device is not saved); an
// invalid MAC address on the added interface shows the server's error at
// that field, nothing committed; fixed and staged, then joined by a
// second edit of another interface, the basket commits ONE transaction,
// checked through REST.
func TestPortalNestedListsDeepInChromium(t *testing.T) {
	s := viewsSite(t)
	const site = "/inventory/v1.0.0/site/stanford1"
	s.Must(t, 200, "PATCH", site, `{"vlan":[{"name":"MGMT","vid":800,"deployment":"prod1"},{"name":"FABRIC","vid":801,"deployment":"prod1"}]}`)
	node1 := interfacesOf(t, s, site+"/device/node1")
	if _, ok := node1["qsfp1"]; !ok || node1["gbe0"].UntaggedVLAN != "" {
		t.Fatalf("stanford1's node1 holds %+v: want qsfp1, gbe0 on no VLAN", node1)
	}

	b := newBrowser(t, s)
	p := b.tab(t, "/portal/browse"+site)
	p.signIn(s.Token)
	p.follow("#edit-button")

	// node1's lists are folded under its row until opened
	const ifaces = `fieldset[data-list="device/node1/interface"]`
	if p.exists(ifaces) {
		t.Fatal("node1's interfaces are shown before its row is opened")
	}
	p.follow(`details[data-of="device/node1"] > summary`)
	if got := p.text(`details[data-of="device/node1"] > summary`); got != "interface (5)" {
		t.Errorf("node1's folded lists read %q, want interface (5)", got)
	}
	rowOf := func(name string) string { return fmt.Sprintf(`tr[data-row="device/node1/interface/%s"]`, name) }
	cell := func(row, leaf string) string { return fmt.Sprintf(`%s td[data-field="interface/%s"]`, row, leaf) }

	// a leafref two levels down: the site's VLANs, from the server
	vlan := cell(rowOf("gbe0"), "untagged-vlan") + " select"
	p.textWith(vlan, "FABRIC")
	p.choose(vlan, "MGMT")

	// an interface added: its parent is one of node1's own interfaces
	p.follow(ifaces + " > .add-row")
	added := ifaces + " > table > tbody > tr:last-child"
	p.typeInto(cell(added, "name")+" input", "mgmt801")
	mgmt801 := rowOf("mgmt801")
	p.typeInto(cell(mgmt801, "type")+" input", "virtual")
	parent := cell(mgmt801, "parent") + " select"
	if got := p.textWith(parent, "qsfp1"); strings.Contains(got, "gbe3") {
		t.Errorf("the parent's choices %q hold another device's interface", got)
	}
	p.choose(parent, "gbe0")
	p.typeInto(cell(mgmt801, "mac-address")+" input", "02:00:00:00:08:zz")
	// and one removed
	p.follow(rowOf("qsfp1") + " .remove-row")

	// a new device with an interface of its own, two levels down too
	p.follow(`fieldset[data-list="device"] > .add-row`)
	newDevice := `fieldset[data-list="device"] > table > tbody > tr:nth-last-child(2)`
	p.typeInto(newDevice+` td[data-field="device/device-id"] input`, "node6")
	node6 := `tr[data-row="device/node6"]`
	p.typeInto(node6+` td[data-field="device/devname"] input`, "node6")
	p.choose(node6+` td[data-field="device/role"] select`, "compute-server")
	p.textWith(node6+` td[data-field="device/device-type"] select`, "r640")
	p.choose(node6+` td[data-field="device/device-type"] select`, "r640")
	p.follow(`details[data-of="device/node6"] > summary`, `fieldset[data-list="device/node6/interface"] > .add-row`)
	p.typeInto(`fieldset[data-list="device/node6/interface"] td[data-field="interface/name"] input`, "eno9")
	p.typeInto(`tr[data-row="device/node6/interface/eno9"] td[data-field="interface/type"] input`, "1000base-t")
	// node6 is not saved yet: its interface's VLAN is still the server's choice of the site's
	n6vlan := `tr[data-row="device/node6/interface/eno9"] td[data-field="interface/untagged-vlan"] select`
	p.textWith(n6vlan, "FABRIC")
	p.choose(n6vlan, "FABRIC")

	before := newestIndex(t, s)
	p.follow("#dry-run")
	macErr := cell(mgmt801, "mac-address")
	if got := p.text(macErr + " .field-error"); !strings.Contains(got, `"02:00:00:00:08:zz" does not match pattern`) {
		t.Errorf("the server's error at device/node1/interface/mgmt801/mac-address reads %q", got)
	}
	if !strings.Contains(p.attr(macErr, "class"), "invalid") {
		t.Error("the invalid MAC address's field is not marked invalid")
	}
	p.do(chromedp.EmulateViewport(1280, 1000), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(document.querySelector('details[data-of="device/node1"]').scrollIntoView({ block: "center" }), scrollTo(0, scrollY), true)`)(ctx, t)
		return err
	}))
	p.shot("nested-lists")
	if n := p.count(".field-error"); n != 1 {
		t.Errorf("%d errors shown, want the one at the MAC address", n)
	}
	if newestIndex(t, s) != before || len(interfacesOf(t, s, site+"/device/node1")) != 5 {
		t.Fatal("a refused edit committed something")
	}

	p.typeInto(macErr+" input", "02:00:00:00:08:01")
	p.follow("#dry-run")
	preview := p.text("#preview")
	for _, want := range []string{site + "/device/node1/interface/gbe0/untagged-vlan", site + "/device/node1/interface/mgmt801", site + "/device/node1/interface/qsfp1", site + "/device/node6/interface/eno9"} {
		if !strings.Contains(preview, want) {
			t.Errorf("the dry run's preview lacks %s: %q", want, preview)
		}
	}
	p.follow("#stage")
	p.do(chromedp.WaitVisible(chromedp.CSS("#staged-note")), chromedp.WaitVisible(chromedp.CSS("#used-by")), chromedp.WaitVisible(chromedp.CSS("#sync")))

	// a second edit of the site, of another of node1's interfaces, joins the first
	p.follow("#edit-button", `details[data-of="device/node1"] > summary`)
	p.typeInto(cell(rowOf("bmc"), "description")+" input", "out of band")
	p.follow("#stage")
	p.do(chromedp.WaitVisible(chromedp.CSS("#staged-note")))
	if got := p.text("#nav-basket"); got != "Basket (1)" {
		t.Errorf("the header shows %q, want one staged edit", got)
	}
	p.follow("#nav-basket")
	if got := p.text(fmt.Sprintf(`#staged tr[data-path="%s"] .removes`, site)); !strings.Contains(got, "device/node1/interface/qsfp1") {
		t.Errorf("the basket's edit says it removes %q", got)
	}
	p.follow("#basket-dry-run", "#basket-commit")
	p.textWith("#committed", fmt.Sprintf("transaction %d.", before+1))

	if newestIndex(t, s) != before+1 {
		t.Fatalf("the basket's commit made transactions up to %d, want one (%d)", newestIndex(t, s), before+1)
	}
	got := interfacesOf(t, s, site+"/device/node1")
	want := siteInterface{Name: "mgmt801", Type: "virtual", Parent: "gbe0", MACAddress: "02:00:00:00:08:01"}
	if _, ok := got["qsfp1"]; ok || got["gbe0"].UntaggedVLAN != "MGMT" || got["mgmt801"] != want || len(got) != 5 {
		t.Errorf("node1's interfaces through REST after the commit: %+v", got)
	}
	if got["bmc"].Description != "out of band" {
		t.Errorf("the second edit's description of bmc through REST: %q", got["bmc"].Description)
	}
	// (its type's interface templates besides)
	if n6 := interfacesOf(t, s, site+"/device/node6"); n6["eno9"].Type != "1000base-t" || n6["eno9"].UntaggedVLAN != "FABRIC" {
		t.Errorf("node6's interfaces through REST: %+v, want eno9 among them", n6)
	}
	var tx struct{ Changes []struct{ Path, Op string } }
	if err := json.Unmarshal(s.Must(t, 200, "GET", fmt.Sprint("/transactions/", before+1), ""), &tx); err != nil {
		t.Fatal(err)
	}
	for _, c := range tx.Changes {
		if !strings.HasPrefix(c.Path, site+"/device/node1/interface/") && !strings.HasPrefix(c.Path, site+"/device/node6") {
			t.Errorf("the transaction changes %s (%s): want node1's interfaces and node6 only", c.Path, c.Op)
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}

// TestPortalNestedListOtherSetInChromium: the same form, with no code of
// its own, edits another set's list in a list's entry (the fleet set: a
// bundle's target's match-label, from a grouping): a label removed and
// added again with another value (the entry changed, not deleted by its
// own removal) and a label added, committed as one transaction, checked
// through REST.
func TestPortalNestedListOtherSetInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	const upf = "/fleet/v1.0.0/bundle/upf"
	s.Must(t, 201, "POST", "/fleet/v1.0.0", `{"bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"},
		"target":[{"name":"production","match-label":[{"name":"env","value":"prod"}],"values":"replicas: 2"}]}]}`)
	b := newBrowser(t, s)
	p := b.tab(t, "/portal/browse"+upf)
	p.signIn(s.Token)
	p.follow("#edit-button", `details[data-of="target/production"] > summary`)
	if got := p.text(`details[data-of="target/production"] > summary`); got != "match-label (1)" {
		t.Errorf("the target's folded lists read %q", got)
	}
	const labels = `fieldset[data-list="target/production/match-label"]`
	// env removed, then added again with another value: the entry changed, not deleted
	p.follow(labels + ` tr[data-row="target/production/match-label/env"] .remove-row`)
	for _, l := range [][2]string{{"env", "staging"}, {"region", "west"}} {
		p.follow(labels + " > .add-row")
		p.typeInto(labels+` > table > tbody > tr:last-child td[data-field="match-label/name"] input`, l[0])
		p.typeInto(labels+` tr[data-row="target/production/match-label/`+l[0]+`"] td[data-field="match-label/value"] input`, l[1])
	}

	before := newestIndex(t, s)
	p.follow("#dry-run", "#commit")
	p.textWith("#committed", fmt.Sprintf("transaction %d.", before+1))
	var bundle struct {
		Target []struct {
			Name       string
			MatchLabel []struct{ Name, Value string } `json:"match-label"`
		}
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", upf, ""), &bundle); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(bundle.Target); newestIndex(t, s) != before+1 || got != "[{production [{env staging} {region west}]}]" {
		t.Errorf("REST after the commit: targets %s, newest transaction %d (before %d)", got, newestIndex(t, s), before)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}
