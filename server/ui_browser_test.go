package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/web"
)

// axeTags are the rule sets every page must pass: WCAG 2.0, 2.1 and 2.2, levels A
// and AA.
const axeTags = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]`

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
	u := &uiRun{t: t, e: e, base: ts.URL, ctx: uiBrowser(t), axe: axeSource(t), shots: os.Getenv("PGO_UI_SCREENSHOTS")}
	if u.shots != "" {
		if err := os.MkdirAll(u.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// uiBrowser is browserContext with room for the many pages of these tests.
func uiBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel3)
	return ctx
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
	if err := chromedp.Do(u.ctx, scripts(false)); err != nil {
		u.t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(u.ctx, steps...)
	if err != nil {
		u.t.Fatalf("%s: %v", what, err)
	}
	if int(resp.Status) != status {
		u.t.Errorf("%s: status %d, want %d", what, resp.Status, status)
	}
	if err := chromedp.Do(u.ctx, scripts(true)); err != nil {
		u.t.Fatal(err)
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
	passes, violations := u.axeRun(name)
	if passes == "0" {
		u.t.Errorf("%s: axe ran no passing rule; the check proves nothing", name)
	}
	if violations != "" {
		u.t.Errorf("%s: axe: %s", name, violations)
	}
	u.t.Logf("axe %-28s %s rules passed, violations: %q", name, passes, violations)
}

// axeRun injects axe-core into the page shown and runs the WCAG 2.2 A/AA rules;
// it returns how many rules passed and the violations ("" when none).
func (u *uiRun) axeRun(name string) (passes, violations string) {
	u.t.Helper()
	if _, err := chromedp.Run(u.ctx, chromedp.Evaluate[any](u.axe, chromedp.EvalIgnoreExceptions)); err != nil {
		u.t.Fatalf("%s: loading axe: %v", name, err)
	}
	res, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: `+axeTags+`}})
		.then(r => r.passes.length + "|" + r.violations.map(v => v.id + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")").join("; "))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		u.t.Fatalf("%s: axe: %v", name, err)
	}
	passes, violations, _ = strings.Cut(res, "|")
	return passes, violations
}

func (u *uiRun) screenshot(name string) {
	if u.shots == "" {
		return
	}
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("%s: screenshot: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(u.shots, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
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
	s, err := chromedp.Run(u.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		u.t.Fatalf("%s: %v", js, err)
	}
	return s
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

// Every page, in Dutch and English, as visitor, patient and auditor, including
// forms shown again with errors and the error pages, passes axe-core's WCAG 2.2
// A/AA rules with zero violations, has the right lang and "Page · Instance"
// title and no inline style or script; every form is used with JavaScript off.
func TestUIPagesAccessibleInBothLanguages(t *testing.T) {
	e, auditor, jan := uiFixture(t)
	u := newUIRun(t, e)
	for _, l := range web.Langs {
		u.as(nil)
		u.page("home", "/", http.StatusOK, l)
		u.page("login", "/login", http.StatusOK, l)
		u.page("logged-out", "/login?info=out", http.StatusOK, l)
		u.page("logged-out-everywhere", "/login?info=everywhere", http.StatusOK, l)
		u.page("not-found", "/bestaat-niet", http.StatusNotFound, l)
		u.page("internal", "/test/boom", http.StatusInternalServerError, l)
		u.page("unavailable", "/test/down", http.StatusServiceUnavailable, l)
		u.visitorLogin(l)

		u.as(jan)
		u.page("home-patient", "/", http.StatusOK, l)
		u.page("account", "/account", http.StatusOK, l)
		u.page("mylog", "/mijn-log", http.StatusOK, l)
		u.submit("form.filter button[type=submit]", http.StatusOK, "from", "2000-01-01", "to", "2000-01-31")
		u.wantLocation("/mijn-log?lang="+string(l)+"&from=2000-01-01&to=2000-01-31", l)
		u.check("mylog-period", l)
		u.page("mylog-errors", "/mijn-log?from=2026-13-01&to=2026-01-01", http.StatusBadRequest, l)
		u.page("forbidden", "/audit", http.StatusForbidden, l)
		u.page("enrol-start", "/account/enrol", http.StatusOK, l)
		u.enrol(l)

		u.as(auditor)
		u.page("home-auditor", "/", http.StatusOK, l)
		u.page("audit", "/audit", http.StatusOK, l)
		u.submit("form.filter button[type=submit]", http.StatusOK, "action", "token_issued")
		u.wantLocation("/audit?lang="+string(l)+"&from=&to=&action=token_issued&person=&peer=&correlation=", l)
		u.check("audit-filtered", l)
		u.submit("a[rel=next]", http.StatusOK)
		u.check("audit-page2", l)
		u.page("audit-errors", "/audit?from=2026-13-01&person=111222333&peer=a%20b&cursor=x", http.StatusBadRequest, l)
	}
}

// visitorLogin: a wrong password, the code step, a wrong code, through the forms.
func (u *uiRun) visitorLogin(l web.Lang) {
	u.t.Helper()
	name := "anna-" + string(l)
	u.e.user(u.t, name, account.RolePatient)
	u.page("login-start", "/login", http.StatusOK, l)
	u.submit("main button[type=submit]", http.StatusUnauthorized, "name", name, "password", "wrong-password-x")
	if n := u.eval(`String(document.querySelectorAll(".error-summary a[href='#name']").length)`); n != "1" {
		u.t.Errorf("%s: the failed login has no error summary linking to the name field", l)
	}
	u.check("login-failed", l)
	u.submit("main button[type=submit]", http.StatusOK, "name", name, "password", testPassword)
	u.check("login-code", l)
	u.submit("main button[type=submit]", http.StatusUnauthorized, "code", "000000")
	u.check("login-code-failed", l)
}

// enrol sets up a new authenticator through the pages: QR step, a wrong code,
// then the right one and the recovery codes.
func (u *uiRun) enrol(l web.Lang) {
	u.t.Helper()
	u.open(withLangQuery("/account/enrol", l), http.StatusOK)
	u.submit("main button[type=submit]", http.StatusOK)
	u.check("enrol-pending", l)
	secret := u.eval(`document.querySelector("code.secret").textContent`)
	u.e.secrets = append(u.e.secrets, secret)
	u.submit("main button[type=submit]", http.StatusBadRequest, "code", "000000")
	u.check("enrol-failed", l)
	seed, err := acctB32.DecodeString(secret)
	if err != nil {
		u.t.Fatal(err)
	}
	code := account.TOTPCode(seed, account.TOTPStep(u.e.clock.now()))
	u.e.secrets = append(u.e.secrets, code)
	u.submit("main button[type=submit]", http.StatusOK, "code", code)
	u.check("enrol-codes", l)
	u.e.secrets = append(u.e.secrets, strings.Fields(u.eval(`Array.from(document.querySelectorAll(".codes code"), c => c.textContent).join(" ")`))...)
}

// The accessibility check catches what it should: a page spoiled on purpose
// (an image without alt text, grey-on-white text, an unlabelled input) fails.
func TestUIAxeCatchesViolations(t *testing.T) {
	e, _, _ := uiFixture(t)
	u := newUIRun(t, e)
	u.open("/login", http.StatusOK)
	if c := u.eval(`(() => { const m = document.querySelector("main");
		m.insertAdjacentHTML("beforeend", '<img src="/static/pgo.css"><input id="x"><p class="hint">Deze tekst is te licht om te lezen.</p>');
		m.lastElementChild.style.color = "#bbb"; return getComputedStyle(m.lastElementChild).color })()`); c != "rgb(187, 187, 187)" {
		t.Fatalf("spoiling the page: colour %s", c)
	}
	_, violations := u.axeRun("spoiled")
	for _, want := range []string{"image-alt", "label", "color-contrast"} {
		if !strings.Contains(violations, want+" (") {
			t.Errorf("axe missed %s: %q", want, violations)
		}
	}
}

// The header follows the session: a visitor sees "Inloggen"; a patient sees
// their pages and a logout button that is a POST form with the CSRF token and
// works without JavaScript; an auditor sees the audit log. The language switch
// keeps the page and its query, and the current page is marked.
func TestUIHeaderFollowsSession(t *testing.T) {
	e, auditor, jan := uiFixture(t)
	u := newUIRun(t, e)
	menu := `Array.from(document.querySelectorAll("header .menu a, header .menu button"), a => a.textContent.trim()).join("|")`
	u.as(nil)
	u.open("/?lang=nl", http.StatusOK)
	if got := u.eval(menu); got != "Inloggen" {
		t.Errorf("visitor menu: %q", got)
	}
	u.as(auditor)
	u.open("/audit?action=token_issued&lang=nl", http.StatusOK)
	if got := u.eval(menu); got != "Mijn account|Auditlog|Uitloggen" {
		t.Errorf("auditor menu: %q", got)
	}
	if got := u.eval(`document.querySelector("header .menu a[aria-current=page]").getAttribute("href")`); got != "/audit" {
		t.Errorf("current page marked: %q", got)
	}
	href := u.eval(`document.querySelector("nav.lang a[hreflang=en]").getAttribute("href")`)
	if q, err := url.Parse(href); err != nil || q.Path != "/audit" || q.Query().Get("action") != "token_issued" || q.Query().Get("lang") != "en" {
		t.Errorf("language switch: %q", href)
	}
	u.submit("nav.lang a[hreflang=en]", http.StatusOK)
	if got := u.eval(`document.querySelector("h1").textContent + "|" + document.documentElement.lang`); got != "Audit log|en" {
		t.Errorf("after switching: %q", got)
	}

	u.as(jan)
	u.open("/?lang=nl", http.StatusOK)
	if got := u.eval(menu); got != "Mijn account|Wie heeft mijn gegevens ingezien?|Uitloggen" {
		t.Errorf("patient menu: %q", got)
	}
	if got := u.eval(`document.querySelector(".next-step a").getAttribute("href")`); got != "/mijn-log" {
		t.Errorf("patient's next step: %q", got)
	}
	tok := u.eval(`document.querySelector("header form[method=post][action='/logout'] input[name=csrf]").value`)
	if tok != account.CSRFToken(jan.session()) {
		t.Errorf("header logout form carries %q, not the session's CSRF token", tok)
	}
	u.submit("header .menu button[type=submit]", http.StatusOK)
	loc, err := chromedp.Run(u.ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/login?info=out") || u.eval(menu) != "Inloggen" {
		t.Errorf("after logout: %s %v, menu %q", loc, err, u.eval(menu))
	}
	if w := jan.get("/account"); w.Code != http.StatusSeeOther {
		t.Errorf("session still valid after logging out in the header: %d", w.Code)
	}
}

// The skip link is the first tab stop on every kind of page and moves focus to
// main; focus indicators are visible (an outline or a box shadow).
func TestUIKeyboardSkipLink(t *testing.T) {
	e, auditor, _ := uiFixture(t)
	u := newUIRun(t, e)
	active := `(document.activeElement.id || document.activeElement.className) + "|" + document.activeElement.tagName`
	for _, tc := range []struct {
		who    *browser
		path   string
		status int
	}{{nil, "/", 200}, {nil, "/login", 200}, {auditor, "/audit", 200}, {nil, "/bestaat-niet", 404}} {
		u.as(tc.who)
		u.open(tc.path, tc.status)
		if err := chromedp.Do(u.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if got := u.eval(active); got != "skip|A" {
			t.Errorf("%s: first tab stop is %q, want the skip link", tc.path, got)
		}
		u.screenshot("focus-skip" + strings.ReplaceAll(tc.path, "/", "-"))
		style := u.eval(`(s => s.outlineStyle + " " + s.outlineWidth + " " + s.boxShadow + " " + s.left)(getComputedStyle(document.activeElement))`)
		if strings.HasPrefix(style, "none") && !strings.Contains(style, "rgb") || strings.Contains(style, "-") {
			t.Errorf("%s: focused skip link not visible: %s", tc.path, style)
		}
		if err := chromedp.Do(u.ctx, chromedp.KeyEvent(kb.Enter)); err != nil {
			t.Fatal(err)
		}
		if got := u.eval(active); got != "main|MAIN" {
			t.Errorf("%s: after the skip link focus is on %q, want main", tc.path, got)
		}
		if err := chromedp.Do(u.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if got := u.eval(`String(document.querySelector("main").contains(document.activeElement))`); got != "true" {
			t.Errorf("%s: the tab after the skip link leaves main: %s", tc.path, u.eval(active))
		}
		u.screenshot("focus-main" + strings.ReplaceAll(tc.path, "/", "-"))
	}
}

// At 320 CSS pixels wide (WCAG 2.2 SC 1.4.10 Reflow) no page scrolls sideways:
// the wide audit table scrolls inside its own focusable region, the patient's
// log stacks into labelled blocks.
func TestUINarrowScreenReflows(t *testing.T) {
	e, auditor, jan := uiFixture(t)
	u := newUIRun(t, e)
	if err := chromedp.Do(u.ctx, chromedp.EmulateViewport(320, 640)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		who  *browser
		path string
	}{
		{"narrow-home", nil, "/"}, {"narrow-login", nil, "/login"}, {"narrow-account", jan, "/account"},
		{"narrow-mylog", jan, "/mijn-log"}, {"narrow-audit", auditor, "/audit"},
		{"narrow-audit-errors", auditor, "/audit?from=x&peer=a%20b"},
	} {
		for _, l := range web.Langs {
			u.as(tc.who)
			status := http.StatusOK
			if strings.Contains(tc.path, "from=x") {
				status = http.StatusBadRequest
			}
			u.open(withLangQuery(tc.path, l), status)
			if w := u.eval(`document.documentElement.scrollWidth + "/" + window.innerWidth`); w != "320/320" {
				t.Errorf("%s-%s: page is %s px wide", tc.name, l, w)
			}
			u.screenshot(tc.name + "-" + string(l))
		}
	}
	// The measurement sees an overflow when there is one.
	if w := u.eval(`(() => { const d = document.createElement("div"); d.style.width = "500px"; d.textContent = "x";
		document.querySelector("main").append(d); return document.documentElement.scrollWidth + "/" + window.innerWidth })()`); w == "320/320" {
		t.Errorf("a 500 px wide block does not widen the page: %s", w)
	}
}
