package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestDemoInBrowser logs every printed demo login in with Chromium (password, then
// the code from `pgo demo totp`): *.localhost resolves to loopback without
// /etc/hosts, and each page on the way passes axe-core's WCAG 2.2 A/AA rules. The
// Noord patient's "Mijn dossier" lists MedMij's test patient, the Zuid one's is
// empty. With PGO_DEMO_SCREENSHOTS=DIR every page is kept as a JPEG (the README's
// docs/screenshots).
func TestDemoInBrowser(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	prefix := fmt.Sprintf("pgo_demoui_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropDemoDatabases(t, prefix) })
	jsonOut := filepath.Join(t.TempDir(), "demo.json")
	p := startPGO(t, nil, "pgo demo ready in ", "demo", "--dir", dir, "--db-prefix", prefix, "--postgres", storetest.BaseURL(),
		"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t), "--json-out", jsonOut,
		"--noord-port", "0", "--zuid-port", "0")
	j := readDemoJSON(t, jsonOut)
	b := newDemoBrowser(t)
	for _, u := range j.Users {
		origin := ""
		for _, inst := range j.Instances {
			if inst.Name == u.Instance {
				origin = strings.TrimSuffix(inst.URL, "/")
			}
		}
		short := strings.ReplaceAll(u.Name, "@", "-")
		b.clearCookies()
		b.visit(origin+"/login?lang=nl", "demo-login")
		b.run(chromedp.SendKeys(chromedp.ID("name"), u.Name), chromedp.SendKeys(chromedp.ID("password"), u.Password),
			chromedp.Click(chromedp.CSS("main button[type=submit]")), chromedp.WaitVisible(chromedp.ID("code")))
		b.check("demo-code")
		code, out, errOut := runPGO(t, nil, "demo", "totp", u.Name, "--dir", dir)
		if code != 0 {
			t.Fatalf("pgo demo totp: %s", errOut)
		}
		b.run(chromedp.SendKeys(chromedp.ID("code"), strings.TrimSpace(out)), chromedp.Click(chromedp.CSS("main button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("form[action='/logout']")))
		b.check("demo-account-" + short)
		switch u.Role {
		case "patient":
			b.visit(origin+"/", "demo-home-"+short)
			b.visit(origin+"/mijn-dossier", "demo-dossier-"+short)
			rows := b.eval(`String(document.querySelectorAll("main table tbody tr").length)`)
			if (u.Name == "anouk@noord") != (rows != "0") {
				t.Errorf("%s: %s dossier rows", u.Name, rows)
			}
		default:
			b.visit(origin+"/audit", "demo-audit-"+short)
		}
	}
	stopDemo(t, p, j)
}

// demoBrowser is one headless Chromium for the demo test.
type demoBrowser struct {
	t     *testing.T
	ctx   context.Context
	axe   string
	shots string
}

func newDemoBrowser(t *testing.T) *demoBrowser {
	t.Helper()
	// The demo CA is not in Chromium's store here; a person trusts it or
	// accepts the warning once.
	ctx := browsertest.Start(t, 5*time.Minute, chromedp.Flag("ignore-certificate-errors", true))
	b := &demoBrowser{t: t, ctx: ctx, axe: browsertest.Axe(t), shots: os.Getenv("PGO_DEMO_SCREENSHOTS")}
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *demoBrowser) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *demoBrowser) clearCookies() {
	b.t.Helper()
	b.run(chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, struct{}{}); err != nil {
		b.t.Fatal(err)
	}
}

// visit opens url (status 200) and checks the page.
func (b *demoBrowser) visit(url, name string) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(url))
	if err != nil {
		b.t.Fatalf("%s: %v", url, err)
	}
	if resp.Status != 200 {
		b.t.Errorf("%s: status %d", url, resp.Status)
	}
	b.check(name)
}

// check runs axe-core on the page shown (no violation allowed) and keeps a screenshot.
func (b *demoBrowser) check(name string) {
	b.t.Helper()
	browsertest.CheckAxe(b.t, b.ctx, b.axe, name)
	if b.shots == "" {
		return
	}
	if err := browsertest.Screenshot(b.ctx, filepath.Join(b.shots, name+".jpg"), 80); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

func (b *demoBrowser) eval(js string) string {
	b.t.Helper()
	return browsertest.Eval(b.t, b.ctx, js)
}
