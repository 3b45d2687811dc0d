package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/web"
)

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
		before := jan.session()
		u.enrol(l)
		// the new authenticator re-authenticated the session: it continues
		// under a new id (ASVS 5.0 V7.2.4), which the page set as the cookie
		if after := u.cookie(sessionCookie); after == "" || after == before {
			t.Fatalf("%s: session cookie after the new authenticator: changed %v", l, after != before)
		} else {
			jan.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: after}
			e.secrets = append(e.secrets, after) // never in a log line either
		}
		u.page("password", "/account/password", http.StatusOK, l)
		u.submit("main button[type=submit]", http.StatusBadRequest,
			"current_password", testPassword, "new_password", "te-kort", "repeat_password", "te-kort")
		if n := u.eval(`String(document.querySelectorAll(".error-summary a[href='#new_password']").length)`); n != "1" {
			t.Errorf("%s: the refused password has no error summary linking to its field", l)
		}
		u.check("password-errors", l)

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

// With an external identity provider configured, the login page offers it as a
// second way in; that page passes too.
func TestUILoginWithOIDCOptionAccessible(t *testing.T) {
	e := newAccountEnv(t, func(_ *account.Service, d *AccountDeps) { d.OIDC = &account.OIDC{} })
	u := newUIRun(t, e)
	for _, l := range web.Langs {
		u.page("login-oidc", "/login", http.StatusOK, l)
		if got := u.eval(`document.querySelector("main a[href='/login/oidc']").textContent`); got != web.T(l, "login.oidc") {
			t.Errorf("%s: OIDC link %q", l, got)
		}
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

// enrol sets up a new authenticator for jan through the pages: a wrong code of
// the current app, the right one, the QR step, a wrong new code, then the right
// one and the recovery codes.
func (u *uiRun) enrol(l web.Lang) {
	u.t.Helper()
	u.open(withLangQuery("/account/enrol", l), http.StatusOK)
	u.submit("main button[type=submit]", http.StatusBadRequest, "current_code", "000000")
	if n := u.eval(`String(document.querySelectorAll(".error-summary a[href='#current_code']").length)`); n != "1" {
		u.t.Errorf("%s: the wrong current code has no error summary linking to its field", l)
	}
	u.check("enrol-current-failed", l)
	u.e.clock.add(30 * time.Second) // a fresh step of the current app
	current := account.TOTPCode(u.e.seeds["jan"], account.TOTPStep(u.e.clock.now()))
	u.e.secrets = append(u.e.secrets, current)
	u.submit("main button[type=submit]", http.StatusOK, "current_code", current)
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
	u.e.seeds["jan"] = seed
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
	// Only accounts are mounted here: the menu offers only what works.
	if got := u.eval(menu); got != "Mijn account|Wie heeft mijn gegevens ingezien?|Uitloggen" {
		t.Errorf("patient menu: %q", got)
	}
	if got := u.eval(`[...document.querySelectorAll(".next-step a")].map(a => a.getAttribute("href")).join(" ")`); got != "/mijn-log" {
		t.Errorf("patient's next steps: %q", got)
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
