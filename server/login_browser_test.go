package server

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/account"
)

// axeSource returns axe-core's axe.min.js: from PGO_AXE_JS, or installed once with
// npm into the user cache directory.
func axeSource(t *testing.T) string {
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

func browserContext(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// scripts switches the page's JavaScript off or on (Emulation.setScriptExecutionDisabled).
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// A real browser with JavaScript switched off logs in with both factors, gets a
// __Host- cookie with the right attributes, and reaches the auditor view; then
// axe-core finds no WCAG 2 A/AA violations on the pages.
func TestBrowserLoginWithoutJavaScriptAndAccessibility(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "eva", account.RoleAuditor)
	ts := httptest.NewTLSServer(e.s.Handler())
	defer ts.Close()
	ctx := browserContext(t)

	err := chromedp.Do(ctx,
		scripts(false),
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("name"), "eva"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			code := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
			e.secrets = append(e.secrets, code)
			_, err := chromedp.SendKeys(chromedp.ID("code"), code)(ctx, t)
			return err
		}),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("form[action='/logout']")),
	)
	if err != nil {
		t.Fatal(err)
	}
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if (h1 != "Mijn account" && h1 != "My account") || !strings.HasSuffix(loc, "/account") {
		t.Fatalf("after login: h1 %q at %s", h1, loc)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range res.Cookies {
		if c.Name == sessionCookie {
			found = true
			e.secrets = append(e.secrets, c.Value)
			if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
				t.Errorf("cookie as the browser stored it: %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("the browser did not keep the __Host- session cookie")
	}

	axe := axeSource(t)
	for _, page := range []string{"/account", "/audit", "/account/enrol", "/audit?from=bad", "/login?lang=en"} {
		err := chromedp.Do(ctx, scripts(true), chromedp.Navigate(ts.URL+page))
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](axe, chromedp.EvalIgnoreExceptions)); err != nil {
			t.Fatalf("%s: loading axe: %v", page, err)
		}
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.version`)); err != nil || v == "" {
			t.Fatalf("%s: axe did not load: %v", page, err)
		}
		violations, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"]}})
			.then(r => r.violations.map(v => v.id + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")").join("; "))`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe: %v", page, err)
		}
		if strings.TrimSpace(violations) != "" {
			t.Errorf("%s: axe: %s", page, violations)
		}
	}
}
