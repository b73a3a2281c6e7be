package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
)

// Measuring in the page: untilJS resolves once cond holds, watching the
// DOM (no polling interval to add to the figure); measureJS runs an
// action and answers how long until cond held, in ms of the page's clock,
// with the URLs of the requests the page made meanwhile (resource timing).
const untilJS = `const until = (cond) => new Promise((done) => {
  if (cond()) return done();
  const mo = new MutationObserver(() => { if (cond()) { mo.disconnect(); done(); } });
  mo.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
});`

// shellJS runs before the portal's own script: it notes when the shell
// first shows its sign-in form, in ms since the navigation started.
const shellJS = `new MutationObserver((_, mo) => {
  if (document.querySelector("#token")) { window.__shellReady = performance.now(); mo.disconnect(); }
}).observe(document, { subtree: true, childList: true });`

type measured struct {
	MS   float64  `json:"ms"`
	URLs []string `json:"urls"`
}

// measure runs action (JS statements) in the page and waits for cond (a
// JS expression).
func (p *page) measure(action, cond string) measured {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	js := fmt.Sprintf(`(async () => { %s
  performance.clearResourceTimings();
  const t0 = performance.now();
  %s;
  await until(() => %s);
  const ms = performance.now() - t0;
  return { ms, urls: performance.getEntriesByType("resource").map((e) => e.name) };
})()`, untilJS, action, cond)
	m, err := chromedp.Run(ctx, chromedp.Evaluate[measured](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("measure %s: %v\npage: %.2000s", action, err, p.html())
	}
	return m
}

// replay is the baseline: the same requests made by fetch() from the page,
// one after the other, each body read, nothing rendered; in ms.
func (p *page) replay(token string, reqs []replayed) float64 {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	rs, _ := json.Marshal(reqs)
	js := fmt.Sprintf(`(async () => {
  const t0 = performance.now();
  for (const r of %s) {
    const a = await fetch(r.url, { method: r.method, cache: "no-store", headers: { Authorization: "Bearer " + %q, "Content-Type": "application/json" }, body: r.body || undefined });
    await a.arrayBuffer();
    // the page's own reads may miss (its favicon); a write must not
    if (!a.ok && r.method !== "GET") throw new Error(r.method + " " + r.url + ": " + a.status);
  }
  return performance.now() - t0;
})()`, rs, token)
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("replay %v: %v", reqs, err)
	}
	return ms
}

type replayed struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body,omitempty"`
}

func gets(urls []string) []replayed {
	out := make([]replayed, len(urls))
	for i, u := range urls {
		out[i] = replayed{Method: "GET", URL: u}
	}
	return out
}

// figure is one performance figure over the iterations: the portal's
// time and its same-run baseline.
type figure struct{ ms, baseMS float64 }

func (f *figure) add(ms, base float64) { f.ms += ms; f.baseMS += base }

func (f figure) report(b *testing.B, name string) {
	n := float64(b.N)
	b.ReportMetric(f.ms/n, name+"-ms")
	b.ReportMetric(f.baseMS/n, name+"-baseline-ms")
	b.ReportMetric(f.ms/f.baseMS, name+"/baseline")
}

// BenchmarkPortalInChromium measures the portal in Debian's Chromium
// against the real binary, with 100,000 SIM cards imported into
// acme-chicago through `amp import` (the API's bulk path), each figure
// beside a baseline measured in the same run: the same requests made by
// fetch() from the same page, one after the other, rendering nothing.
//
//   - shell: a fresh tab opens a list's URL; the shell loads and shows
//     sign-in, the token is submitted, and the list's first page is
//     rendered (targets: 1 s; JavaScript 300 KiB compressed, js-gzip-KiB);
//   - sims-first-page: the 100,000-SIM list's first page, from another view;
//   - sims-sort-imsi: that list sorted by IMSI, a click on its header
//     (every entry placed, 50 read whole);
//   - sims-imsi-prefix: that list filtered by an IMSI prefix matching the
//     last 10 SIMs in key order, so the server reads every entry (300 ms each);
//   - basket-50: a basket of 50 staged edits checked (dry run) and
//     committed, until the portal shows the commit and the backends'
//     verdict (?wait=applied) (1 s); apart: its check, its commit, and
//     as a diagnostic the same commit by fetch() without the wait.
//
// go test -run '^$' -bench BenchmarkPortalInChromium -benchtime 3x ./test/e2e/ (make bench-portal)
func BenchmarkPortalInChromium(b *testing.B) {
	s := testenv.Start(b, b.TempDir(), "--demo")
	imp := exec.Command(testenv.Binary(b), "import", simCSV(b, 100_000))
	imp.Env = s.Env()
	if out, err := imp.CombinedOutput(); err != nil {
		b.Fatalf("amp import: %v\n%s", err, out)
	}
	const (
		sims   = "/aether/v2.1.x/acme/site/acme-chicago/sim-card"
		sites  = "/aether/v2.1.x/acme/site"
		prefix = "31501000009999" // b99990…b99999: the end of key order
	)
	firstPage, _ := restKeys(b, s, sims+"?limit=50", "sim-id")
	matching, _ := restKeys(b, s, sims+"?limit=50&filter="+url.QueryEscape("imsi^="+prefix), "sim-id")
	byIMSI, _ := restKeys(b, s, sims+"?limit=50&sort=imsi", "sim-id")
	if len(firstPage) != 50 || len(matching) != 10 {
		b.Fatalf("REST: first page %d SIMs, %d by prefix %s; want 50 and 10", len(firstPage), len(matching), prefix)
	}
	column := func(want []string) string {
		w, _ := json.Marshal(want)
		return fmt.Sprintf(`JSON.stringify([...document.querySelectorAll("#list tbody tr td:first-child")].map((e) => e.textContent)) === %q`, w)
	}
	br := newBrowser(b, s)
	var shell, first, sorted, filtered, basket50, basketCheck, basketCommit figure
	jsKiB, noWait := 0.0, 0.0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // the figures are the page's own clock, not the loop's
		p := br.tab(b, "/")
		if _, err := chromedp.Call(p.tab, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: shellJS}); err != nil {
			b.Fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
		}
		p.do(chromedp.Navigate(s.URL + "/portal/browse" + sims))
		p.do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), s.Token))
		shellMS := p.evalFloat("window.__shellReady")
		shellURLs := p.evalStrings(`performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).map((e) => e.name)`)
		signIn := p.measure(`document.querySelector("#sign-in button[type=submit]").click()`, column(firstPage))
		shell.add(shellMS+signIn.MS, p.replay(s.Token, gets(append(shellURLs, signIn.URLs...))))
		if i == 0 {
			jsKiB = scriptsKiB(b, s, shellURLs)
		}

		// the first page of the 100,000 SIMs, coming from another view
		p.goTo("/portal/browse" + sites)
		p.do(chromedp.WaitVisible(chromedp.CSS(`#list a[href$="/site/acme-chicago"]`)))
		firstM := p.measure(fmt.Sprintf(`history.pushState(null, "", %q); dispatchEvent(new PopStateEvent("popstate"))`, "/portal/browse"+sims), column(firstPage))
		first.add(firstM.MS, p.replay(s.Token, gets(firstM.URLs)))

		// sorted by IMSI: a click on its column's header; then back to key order
		sortM := p.measure(`document.querySelector('button[data-sort="imsi"]').click()`, column(byIMSI))
		sorted.add(sortM.MS, p.replay(s.Token, gets(sortM.URLs)))
		p.goTo("/portal/browse" + sims)
		p.firstColumn(firstPage)

		// filtered by an IMSI prefix through the list's filter form
		p.choose(`#filter select[aria-label="leaf"]`, "imsi")
		p.choose("#filter-op", "^=")
		p.typeInto(`#filter input[aria-label="value"]`, prefix)
		filterM := p.measure(`document.querySelector("#filter").requestSubmit()`, column(matching))
		filtered.add(filterM.MS, p.replay(s.Token, gets(filterM.URLs)))

		// 50 edits staged through the entry forms (not measured), then
		// checked and committed from the basket
		for j := range 50 {
			p.goTo(fmt.Sprintf("/portal/browse%s/b%d", sims, i*50+j))
			p.follow("#edit-button")
			p.typeInto(`[data-field="display-name"] input`, fmt.Sprintf("bench %d", i))
			p.follow("#stage")
			p.do(chromedp.WaitVisible(chromedp.CSS("#staged-note")))
		}
		p.goTo("/portal/basket")
		if n := p.count("#staged tbody tr"); n != 50 {
			b.Fatalf("the basket holds %d edits, want 50", n)
		}
		check := p.measure(`document.querySelector("#basket-dry-run").click()`,
			`(() => { const c = document.querySelector("#basket-commit"); return c !== null && !c.disabled })()`)
		commit := p.measure(`document.querySelector("#basket-commit").click()`, `document.querySelector("#committed") !== null`)
		// the baseline: the same two requests for 50 other SIMs
		var edits []string
		for j := range 50 {
			edits = append(edits, fmt.Sprintf(`{"op":"patch","path":"%s/b%d","value":{"display-name":"base %d"}}`, sims, 50_000+i*50+j, i))
		}
		body := `{"edits":[` + strings.Join(edits, ",") + `]}`
		var posts []replayed
		for _, u := range append(check.URLs, commit.URLs...) {
			if strings.Contains(u, "/transactions?") {
				posts = append(posts, replayed{Method: "POST", URL: u, Body: body})
			}
		}
		if len(posts) != 2 {
			b.Fatalf("the basket's check and commit made %v and %v, want two POST /transactions", check.URLs, commit.URLs)
		}
		checkBase, commitBase := p.replay(s.Token, posts[:1]), p.replay(s.Token, posts[1:])
		basket50.add(check.MS+commit.MS, checkBase+commitBase)
		basketCheck.add(check.MS, checkBase)
		basketCommit.add(commit.MS, commitBase)
		// where the commit's time goes: the same commit of 50 more SIMs
		// without waiting for the backends (the transaction alone)
		edits = edits[:0]
		for j := range 50 {
			edits = append(edits, fmt.Sprintf(`{"op":"patch","path":"%s/b%d","value":{"display-name":"nowait %d"}}`, sims, 60_000+i*50+j, i))
		}
		noWait += p.replay(s.Token, []replayed{{Method: "POST", URL: s.URL + "/transactions", Body: `{"edits":[` + strings.Join(edits, ",") + `]}`}})
		b.Logf("iteration %d: shell+first list %.0f ms, SIMs first page %.0f ms, sorted by IMSI %.0f ms, IMSI prefix %.0f ms, basket of 50 %.0f ms", i, shellMS+signIn.MS, firstM.MS, sortM.MS, filterM.MS, check.MS+commit.MS)
	}
	shell.report(b, "shell")
	first.report(b, "sims-first-page")
	sorted.report(b, "sims-sort-imsi")
	filtered.report(b, "sims-imsi-prefix")
	basket50.report(b, "basket-50")
	basketCheck.report(b, "basket-50-check")
	basketCommit.report(b, "basket-50-commit")
	b.ReportMetric(noWait/float64(b.N), "basket-50-commit-nowait-baseline-ms")
	b.ReportMetric(jsKiB, "js-gzip-KiB")
}

func (p *page) evalFloat(js string) float64 {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (p *page) evalStrings(js string) []string {
	p.t.Helper()
	ctx, cancel := p.bound()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// scriptsKiB is the size, gzip-compressed, of the JavaScript among urls
// as the server serves it.
func scriptsKiB(b *testing.B, s *testenv.Server, urls []string) float64 {
	total := 0
	for _, u := range urls {
		if !strings.HasSuffix(u, ".js") {
			continue
		}
		path := strings.TrimPrefix(u, s.URL)
		js := s.Must(b, 200, "GET", path, "")
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(js)
		w.Close()
		total += z.Len()
	}
	if total == 0 {
		b.Fatalf("the shell loaded no JavaScript: %v", urls)
	}
	return float64(total) / 1024
}
