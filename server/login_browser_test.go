package server

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
)

// A real browser with JavaScript switched off logs in with both factors, gets a
// __Host- cookie with the right attributes, and reaches the auditor view; then
// axe-core finds no WCAG 2.2 A/AA violations on the pages.
func TestBrowserLoginWithoutJavaScriptAndAccessibility(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "eva", account.RoleAuditor)
	ts := httptest.NewTLSServer(e.s.Handler())
	defer ts.Close()
	ctx := browsertest.Start(t, 60*time.Second, chromedp.Flag("ignore-certificate-errors", true))

	err := chromedp.Do(ctx,
		browsertest.Scripts(false),
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

	axe := browsertest.Axe(t)
	for _, page := range []string{"/account", "/audit", "/account/enrol", "/account/password", "/audit?from=bad", "/login?lang=en"} {
		err := chromedp.Do(ctx, browsertest.Scripts(true), chromedp.Navigate(ts.URL+page))
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		browsertest.CheckAxe(t, ctx, axe, page)
	}
}
