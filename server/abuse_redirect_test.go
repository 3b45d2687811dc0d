package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// The open-redirect attacks of TestAbuse (abuse_test.go): the login return
// path, the OIDC return cookie, and redirect_uri on the authorization request
// and on the consent decision.

// onSite reports whether a Location stays on this site in a browser: a path
// that no browser reads as another host (no "//", no backslash, no control or
// space characters, which browsers strip or turn into slashes).
func onSite(loc string) bool {
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n\x00") {
		return false
	}
	base, _ := url.Parse(testIssuer + "/")
	u, err := base.Parse(loc)
	return err == nil && u.Scheme == "https" && u.Host == base.Host && u.User == nil
}

// hostile are return targets that lead off the site in some browser.
var hostile = []string{"//evil.example", "///evil.example", "https://evil.example/", "http:evil.example",
	"/\\evil.example", "\\/evil.example", "/\t/evil.example", "/ /evil.example", "javascript:alert(1)",
	"https:/\\evil.example", "@evil.example", "/%0d%0aLocation:%20https://evil.example", "%2F%2Fevil.example",
	" //evil.example", "/\x00/evil.example"}

// Open redirect, login return path: a ?next= that leads off the site, carried
// through both login steps, ends on a page of this site.
func abuseLoginNext(t *testing.T, e *abuseEnv) {
	_, seed := e.createUser(t, "nina", account.RolePatient)
	for _, next := range append(hostile, "/mijn-log") {
		b := e.browser()
		b.get("/login?next=" + url.QueryEscape(next))
		w := b.post("/login?next="+url.QueryEscape(next), form("csrf", b.csrf(t, "/login"), "name", "nina", "password", testPassword))
		step2 := w.Header().Get("Location")
		if w.Code != http.StatusSeeOther || !onSite(step2) {
			t.Errorf("next %q: password step to %q", next, step2)
			continue
		}
		code := account.TOTPCode(seed, account.TOTPStep(e.clock.now()))
		e.secrets = append(e.secrets, code)
		w = b.post(step2, form("csrf", b.csrf(t, "/login/code"), "code", code))
		e.clock.add(30 * time.Second)
		if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !onSite(loc) {
			t.Errorf("next %q: after login to %q", next, loc)
		} else if next == "/mijn-log" && loc != next {
			t.Errorf("control: a local next %q was not followed (%q)", next, loc)
		}
		// Straight to step 2 with a hostile next (a crafted link).
		w = b.post("/login/code?next="+url.QueryEscape(next), form("csrf", account.CSRFToken(b.session())))
		if loc := w.Header().Get("Location"); loc != "" && !onSite(loc) {
			t.Errorf("next %q on the code step: to %q", next, loc)
		}
	}
}

// Open redirect, OIDC return cookie: the cookie that carries ?next= across the
// identity provider is read back through the same local-path check, so a
// planted one (a sibling host can set a __Secure- cookie) cannot lead off the
// site.
func abuseOIDCNextCookie(t *testing.T, e *abuseEnv) {
	for _, next := range append(hostile, "/mijn-log") {
		req := httptest.NewRequest(http.MethodGet, "/login/oidc/callback", nil)
		req.AddCookie(&http.Cookie{Name: oidcNextCookie, Value: url.QueryEscape(next)})
		got := oidcNext(e.s.echo.NewContext(req, httptest.NewRecorder()))
		if !onSite(got) || (next == "/mijn-log" && got != next) {
			t.Errorf("planted return cookie %q: redirect to %q", next, got)
		}
	}
}

// redirectVariants are redirect_uris that differ from the registered
// https://zuid.localhost/oauth/callback in one way each.
var redirectVariants = []string{
	zuidCallback + "/", "https://zuid.localhost/OAuth/callback", "https://ZUID.localhost/oauth/callback",
	"HTTPS://zuid.localhost/oauth/callback", zuidCallback + "/extra", "https://zuid.localhost/oauth/x/../callback",
	"https://zuid.localhost/oauth/./callback", zuidCallback + "?x=1", zuidCallback + "?", zuidCallback + "#x", zuidCallback + "#",
	"https://zuid.localhost@evil.example/oauth/callback", "https://evil.example@zuid.localhost/oauth/callback",
	"https://zuid.localhost\\@evil.example/oauth/callback", "https://zuid.localhost:443/oauth/callback",
	"https://zuid.localhost:8443/oauth/callback", "http://zuid.localhost/oauth/callback",
	"https://zu\u0456d.localhost/oauth/callback", "https://xn--zud-xyz.localhost/oauth/callback",
	"https://zuid.localhost/oauth/%63allback", "https://zuid%2Elocalhost/oauth/callback", "https://zuid.localhost./oauth/callback",
	" " + zuidCallback, zuidCallback + " ", zuidCallback + "%00", "//zuid.localhost/oauth/callback",
	"https://vier.localhost/cb", "https://evil.example/oauth/callback", "",
}

// Open redirect through the authorization request: a redirect_uri that is not
// exactly registered gets the 400 error page, never a redirect, and an audited
// authorize_refused. Control: the registered one goes on (to the login page).
func abuseRedirectURI(t *testing.T, e *abuseEnv) {
	b := e.browser()
	for _, ru := range redirectVariants {
		v := authParams("state-ru-0001", "")
		v.Set("redirect_uri", ru)
		before := countAudit(t, e.accountEnv, audit.ActAuthorizeRefused, "", "invalid_redirect_uri")
		w := b.get("/oauth/authorize?" + v.Encode())
		refusedPage(t, "redirect_uri "+ru, w.Code, w.Header().Get("Location"), w.Body.String(), http.StatusBadRequest, "consent.error.redirect_uri")
		if countAudit(t, e.accountEnv, audit.ActAuthorizeRefused, "", "invalid_redirect_uri") != before+1 {
			t.Errorf("redirect_uri %q: no authorize_refused record", ru)
		}
	}
	v := authParams("state-ru-0001", "")
	v.Add("redirect_uri", "https://evil.example/cb")
	w := b.get("/oauth/authorize?" + v.Encode())
	refusedPage(t, "redirect_uri twice", w.Code, w.Header().Get("Location"), w.Body.String(), http.StatusBadRequest, "consent.error.request")
	w = b.get("/oauth/authorize?" + authParams("state-ru-0001", "").Encode())
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Errorf("control: the registered redirect_uri: %d %q", w.Code, loc)
	}
}

// The same through the consent decision (POST /oauth/authorize with a valid CSRF
// token, as a logged-in patient): an altered redirect_uri in the posted form is
// the error page, and no code or grant is made. Control: the registered one
// redirects there with a code.
func abuseDecideRedirectURI(t *testing.T, e *abuseEnv) {
	b := e.loggedIn(t, patientName, account.RolePatient)
	post := func(ru string) *httptest.ResponseRecorder {
		f := authParams("state-dec-0001", "")
		f.Set("redirect_uri", ru)
		f.Set("decision", "allow")
		f.Set("category", "problems")
		f.Set(csrfField, account.CSRFToken(b.session()))
		return b.post("/oauth/authorize", f)
	}
	before := dbState(t, e.accountEnv)
	for _, ru := range redirectVariants {
		w := post(ru)
		refusedPage(t, "decision with redirect_uri "+ru, w.Code, w.Header().Get("Location"), w.Body.String(), http.StatusBadRequest, "consent.error.redirect_uri")
	}
	for _, tbl := range []string{"oauth_code", "consent_grant", "export_job", "outbox"} {
		if dbState(t, e.accountEnv)[tbl] != before[tbl] {
			t.Errorf("a decision with a bad redirect_uri changed %s", tbl)
		}
	}
	w := post(zuidCallback)
	u, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || u == nil || u.Scheme+"://"+u.Host+u.Path != zuidCallback || u.Query().Get("code") == "" {
		t.Errorf("control: the registered redirect_uri: %d %q", w.Code, w.Header().Get("Location"))
	} else {
		e.secrets = append(e.secrets, u.Query().Get("code"))
	}
}
