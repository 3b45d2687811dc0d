package main

// The browser side of TestFlowBrowser: one Debian chromium (headless, driven by
// chromedp) per test, a fresh browser context (own cookies) per variant, a check
// of every page (language, axe-core WCAG 2.2 A/AA, screenshot), and the clicks a
// patient makes. Pages are loaded with JavaScript switched off in the no-script
// variant; the test's own probes (axe, reading the page) switch it on only after
// the page has loaded, so the page's scripts never run there.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
)

// flowShots, when set, is where TestFlowBrowser keeps a PNG of every page of the
// Dutch and English flows (the README's "What you will see" links
// docs/screenshots, made with -flow.shots=../../docs/screenshots).
var flowShots = flag.String("flow.shots", "", "directory for the flow's screenshots (e.g. ../../docs/screenshots)")

// spkiHashes are the base64 SHA-256 hashes of the SubjectPublicKeyInfo of the
// demo's two server certificates: what chromium's
// --ignore-certificate-errors-spki-list takes. Chromium then overlooks a
// certificate error only for a chain that holds one of these keys (the servers
// send their leaf only, so the demo CA's own key would never match); any other
// certificate still fails as usual. Nothing is installed into a trust store.
func spkiHashes(t *testing.T, certFiles ...string) string {
	t.Helper()
	var out []string
	for _, f := range certFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", f)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		out = append(out, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(out, ",")
}

// flowBrowser starts one headless chromium that accepts the demo's two server
// certificates and no other untrusted one. *.localhost resolves to loopback in
// chromium itself (RFC 6761 §6.3).
func flowBrowser(t *testing.T, serverCerts ...string) context.Context {
	t.Helper()
	return browsertest.Start(t, 0, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHashes(t, serverCerts...)))
}

// flowTab is one variant's browser context (its own cookies and downloads).
type flowTab struct {
	t         *testing.T
	ctx       context.Context
	axe       string
	lang      string // "nl" or "en": the browser's Accept-Language
	js        bool
	shots     string // "" : keep no screenshots
	downloads string
	checked   int // pages checked by axe
}

func newFlowTab(t *testing.T, bctx context.Context, axe, lang string, js bool, shots string) *flowTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel2)
	ft := &flowTab{t: t, ctx: ctx, axe: axe, lang: lang, js: js, shots: shots, downloads: t.TempDir()}
	accept := map[string]string{"nl": "nl-NL,nl;q=0.9", "en": "en-GB,en;q=0.9"}[lang]
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		if err == nil {
			_, err = cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": accept}})
		}
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		DownloadPath: ft.downloads, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	return ft
}

// load runs steps that navigate (a link, a form) with the variant's JavaScript
// setting, waits for the new page and fails on an HTTP error status.
func (ft *flowTab) load(what string, steps ...chromedp.Action[chromedp.Void]) {
	ft.t.Helper()
	resp, err := browsertest.Load(ft.ctx, ft.js, steps...)
	if err != nil {
		ft.t.Fatalf("%s: %v", what, err)
	}
	if resp.Status >= 400 {
		ft.t.Fatalf("%s: status %d at %s", what, resp.Status, resp.URL)
	}
}

func (ft *flowTab) open(url string) { ft.t.Helper(); ft.load("open "+url, chromedp.Navigate(url)) }

// click follows a link or presses a submit button.
func (ft *flowTab) click(sel string) {
	ft.t.Helper()
	if ft.eval(fmt.Sprintf(`String(document.querySelector(%q) !== null)`, sel)) != "true" {
		ft.t.Fatalf("no %s on %s:\n%.1500s", sel, ft.location(), ft.eval(`document.querySelector("main") ? document.querySelector("main").innerText : document.body.innerText`))
	}
	ft.load("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// tick clicks a checkbox or radio button (no navigation).
func (ft *flowTab) tick(sel string) {
	ft.t.Helper()
	if err := chromedp.Do(ft.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		ft.t.Fatalf("click %s: %v", sel, err)
	}
}

func (ft *flowTab) fill(id, value string) {
	ft.t.Helper()
	if err := chromedp.Do(ft.ctx, chromedp.SetValue(chromedp.ID(id), value)); err != nil {
		ft.t.Fatalf("fill #%s: %v", id, err)
	}
}

func (ft *flowTab) eval(js string) string {
	ft.t.Helper()
	return browsertest.Eval(ft.t, ft.ctx, js)
}

func (ft *flowTab) location() string {
	ft.t.Helper()
	return browsertest.Location(ft.t, ft.ctx)
}

// text is the visible text of the page's main element.
func (ft *flowTab) text() string {
	return ft.eval(`document.querySelector("main").innerText`)
}

// check audits the page shown: its language, one h1, and zero axe-core
// violations of WCAG 2.2 A/AA; it keeps a screenshot named name-LANG.png.
func (ft *flowTab) check(name string) {
	ft.t.Helper()
	if got := ft.eval(`document.documentElement.lang + "|" + (document.querySelector("h1") ? "h1" : "")`); got != ft.lang+"|h1" {
		ft.t.Errorf("%s (%s): lang|h1 = %q", name, ft.location(), got)
	}
	// Every check box and radio button sits right beside its label (a rule for
	// text inputs once stretched them into wide boxes with the label far away).
	if apart := ft.eval(`[...document.querySelectorAll("input[type=checkbox], input[type=radio]")].filter(i => {
		const l = document.querySelector('label[for="' + i.id + '"]'); if (!l) return true;
		const a = i.getBoundingClientRect(), b = l.getBoundingClientRect();
		return a.width > 32 || b.left < a.right || b.left - a.right > 24; }).map(i => i.id).join(" ")`); apart != "" {
		ft.t.Errorf("%s: inputs not beside their label: %s", name, apart)
	}
	browsertest.CheckAxe(ft.t, ft.ctx, ft.axe, name+" ("+ft.location()+")")
	ft.checked++
	ft.screenshot(name)
}

func (ft *flowTab) screenshot(name string) {
	ft.t.Helper()
	if ft.shots == "" {
		return
	}
	if err := browsertest.Screenshot(ft.ctx, filepath.Join(ft.shots, name+"-"+ft.lang+".png"), 100); err != nil {
		ft.t.Fatalf("%s: %v", name, err)
	}
}

// waitFor waits until sel is on the page (a DOM query, no page script needed):
// with JavaScript the page changes by itself, without it the page reloads itself.
func (ft *flowTab) waitFor(sel string, timeout time.Duration) {
	ft.t.Helper()
	if err := browsertest.WaitReady(ft.ctx, sel, timeout); err != nil {
		ft.t.Fatalf("%s did not appear within %s at %s: %v\n%.1500s", sel, timeout, ft.location(), err, ft.text())
	}
}

// download clicks a link whose answer is an attachment and returns the saved file.
func (ft *flowTab) download(sel string, timeout time.Duration) string {
	ft.t.Helper()
	if err := chromedp.Do(ft.ctx, browsertest.Scripts(ft.js), chromedp.Click(chromedp.CSS(sel)), browsertest.Scripts(true)); err != nil {
		ft.t.Fatalf("click %s: %v", sel, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(ft.downloads, "*.pdf"))
		if len(files) == 1 {
			return files[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	all, _ := os.ReadDir(ft.downloads)
	ft.t.Fatalf("no PDF downloaded within %s (%v)", timeout, all)
	return ""
}
