package server

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// uiRun drives one chromium through the pages of an account env. Set
// PGO_UI_SCREENSHOTS to a directory to keep a PNG of every page checked.
type uiRun struct {
	t     *testing.T
	e     *accountEnv
	base  string
	ctx   context.Context
	axe   string
	shots string
}

func newUIRun(t *testing.T, e *accountEnv) *uiRun {
	t.Helper()
	e.s.group(KindBrowser).GET("/test/boom", func(echo.Context) error { return errors.New("boom") })
	e.s.group(KindBrowser).GET("/test/down", func(echo.Context) error {
		return pgo.Errorf(pgo.EUNAVAILABLE, "The database is not reachable.")
	})
	ts := httptest.NewTLSServer(e.s.Handler())
	t.Cleanup(ts.Close)
	u := &uiRun{t: t, e: e, base: ts.URL, ctx: uiBrowser(t), axe: browsertest.Axe(t), shots: os.Getenv("PGO_UI_SCREENSHOTS")}
	if u.shots != "" {
		if err := os.MkdirAll(u.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// uiBrowser is one chromium with room for the many pages of these tests; it
// accepts the test servers' certificates.
func uiBrowser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, 5*time.Minute, chromedp.Flag("ignore-certificate-errors", true))
}

// as makes the browser carry b's session cookie (nil: no cookies at all).
func (u *uiRun) as(b *browser) {
	u.t.Helper()
	if _, err := chromedp.Call(u.ctx, network.ClearBrowserCookies, struct{}{}); err != nil {
		u.t.Fatal(err)
	}
	if b == nil {
		return
	}
	yes := true
	_, err := chromedp.Call(u.ctx, network.SetCookie, network.SetCookieParams{Name: sessionCookie, Value: b.session(),
		URL: u.base + "/", Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax})
	if err != nil {
		u.t.Fatal(err)
	}
}

// cookie returns the value of the browser's cookie name for the site ("" when
// it has none).
func (u *uiRun) cookie(name string) string {
	u.t.Helper()
	res, err := chromedp.Call(u.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u.base + "/"}})
	if err != nil {
		u.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func withLangQuery(path string, l web.Lang) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "lang=" + string(l)
}

// open loads path with JavaScript off, as a user without it would, checks the
// status, and switches JavaScript on again for the test's own probes (the pages
// have no scripts, so that changes nothing on the page).
func (u *uiRun) open(path string, status int) {
	u.t.Helper()
	u.load(path, status, chromedp.Navigate(u.base+path))
}

func (u *uiRun) load(what string, status int, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	resp, err := browsertest.Load(u.ctx, false, steps...)
	if err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
	if int(resp.Status) != status {
		u.t.Errorf("%s: status %d, want %d", what, resp.Status, status)
	}
}

// check audits the page now shown: its language, its title ("Page · Instance"),
// no inline style or script (CSP), and zero axe-core violations; name is the
// screenshot's file name.
func (u *uiRun) check(name string, l web.Lang) {
	u.t.Helper()
	name = name + "-" + string(l)
	facts, err := chromedp.Run(u.ctx, chromedp.Evaluate[[]string](`[document.documentElement.lang, document.title,
		String(document.querySelectorAll("[style], script, [onclick]").length), document.querySelector("h1") ? "h1" : ""]`))
	if err != nil {
		u.t.Fatalf("%s: %v", name, err)
	}
	if facts[0] != string(l) || !strings.HasSuffix(facts[1], " · PGO Test") || strings.HasPrefix(facts[1], " ·") ||
		facts[2] != "0" || facts[3] != "h1" {
		u.t.Errorf("%s: lang %q, title %q, %s inline styles/scripts, %q", name, facts[0], facts[1], facts[2], facts[3])
	}
	u.screenshot(name)
	passes, violations := browsertest.CheckAxe(u.t, u.ctx, u.axe, name)
	u.t.Logf("axe %-28s %d rules passed, violations: %q", name, passes, violations)
}

// axeRun runs axe-core's WCAG 2.2 A/AA rules on the page shown and returns the
// violations ("" when none), without judging them.
func (u *uiRun) axeRun(name string) (passes int, violations string) {
	u.t.Helper()
	passes, violations, err := browsertest.RunAxe(u.ctx, u.axe)
	if err != nil {
		u.t.Fatalf("%s: %v", name, err)
	}
	return passes, violations
}

func (u *uiRun) screenshot(name string) {
	if u.shots == "" {
		return
	}
	if err := browsertest.Screenshot(u.ctx, filepath.Join(u.shots, name+".png"), 100); err != nil {
		u.t.Fatalf("%s: %v", name, err)
	}
}

// page opens path in language l and checks it.
func (u *uiRun) page(name, path string, status int, l web.Lang) {
	u.t.Helper()
	u.open(withLangQuery(path, l), status)
	u.check(name, l)
}

// submit fills the form fields by id and clicks sel; the submission itself runs
// with JavaScript off, and the answer must have status.
func (u *uiRun) submit(sel string, status int, fields ...string) {
	u.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.ID(fields[i]), fields[i+1]))
	}
	if err := chromedp.Do(u.ctx, steps...); err != nil {
		u.t.Fatalf("fill %v: %v", fields, err)
	}
	if u.eval(fmt.Sprintf(`String(document.querySelector(%q) !== null)`, sel)) != "true" {
		u.t.Fatalf("no %s on the page", sel)
	}
	u.load("submit "+sel, status, chromedp.Click(chromedp.CSS(sel)))
}

// wantLocation checks the address the browser is at (after a form without JavaScript).
func (u *uiRun) wantLocation(path string, l web.Lang) {
	u.t.Helper()
	loc, err := chromedp.Run(u.ctx, chromedp.Location())
	if err != nil || loc != u.base+path {
		u.t.Errorf("%s: at %s (%v), want %s", l, loc, err, path)
	}
}

func (u *uiRun) eval(js string) string {
	u.t.Helper()
	return browsertest.Eval(u.t, u.ctx, js)
}

// uiFixture: an auditor, a patient with events in their log, and enough events
// for the auditor view to have a second page.
func uiFixture(t *testing.T) (*accountEnv, *browser, *browser) {
	e := newAccountEnv(t)
	auditor, jan := e.browser(), e.browser()
	auditor.login(t, "eva", e.user(t, "eva", account.RoleAuditor))
	jan.login(t, "jan", e.user(t, "jan", account.RolePatient))
	list, err := e.svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var janID string
	for _, a := range list {
		if a.Name == "jan" {
			janID = a.ID
		}
	}
	for i := 0; i < 65; i++ { // 60 token_issued: a second page when filtered on it
		ev := audit.Event{Action: audit.ActTokenIssued, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: "system"}
		if i%13 == 0 {
			ev = audit.Event{Action: audit.ActDocumentFetched, Outcome: audit.Success, PersonID: janID,
				ActorType: audit.ActorPeer, ActorID: "pgo-zuid.example", Role: audit.RoleSource,
				ObjectType: "document", ObjectID: fmt.Sprintf("doc-%d", i), CorrelationID: "corr-1"}
		}
		if err := auditdb.Record(context.Background(), e.db, ev); err != nil {
			t.Fatal(err)
		}
	}
	return e, auditor, jan
}
