package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

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
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		// The demo CA is not in Chromium's store here; a person trusts it or
		// accepts the warning once.
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel3)
	b := &demoBrowser{t: t, ctx: ctx, axe: demoAxe(t), shots: os.Getenv("PGO_DEMO_SCREENSHOTS")}
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
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](b.axe, chromedp.EvalIgnoreExceptions)); err != nil {
		b.t.Fatalf("%s: loading axe: %v", name, err)
	}
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
		.then(r => r.passes.length + "|" + r.violations.map(v => v.id + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")").join("; "))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: axe: %v", name, err)
	}
	passes, violations, _ := strings.Cut(res, "|")
	if passes == "0" || violations != "" {
		b.t.Errorf("%s: axe: %s rules passed, violations: %s", name, passes, violations)
	}
	if b.shots == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(80))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".jpg"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *demoBrowser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return s
}

// demoAxe reads axe-core (PGO_AXE_JS, as scripts/test sets it, or the copy the
// server tests install under the user cache).
func demoAxe(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PGO_AXE_JS")
	if path == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(cache, "pgo-axe")
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(path); err != nil {
			out, err := exec.Command("npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@4").CombinedOutput()
			if err != nil {
				t.Fatalf("installing axe-core with npm (or set PGO_AXE_JS): %v\n%s", err, out)
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
