package server

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/web"
)

// CSRF, framing and roles of TestAbuse (abuse_test.go).

// browserRoutes lists the browser routes of the route table with methods.
func browserRoutes(e *abuseEnv, methods ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range e.s.echo.Routes() {
		for _, m := range methods {
			if r.Method == m && e.s.kinds[r.Path] == KindBrowser && !seen[r.Path] {
				seen[r.Path] = true
				out = append(out, r.Path)
			}
		}
	}
	sort.Strings(out)
	return out
}

var paramRE = regexp.MustCompile(`:[a-z]+`)

// fill puts ids into a route template: ids[route] when given, else a random
// UUID; "*" becomes the first embedded static file.
func fill(t *testing.T, route string, ids map[string]string) string {
	t.Helper()
	if id, ok := ids[route]; ok {
		return paramRE.ReplaceAllString(route, id)
	}
	p := paramRE.ReplaceAllString(route, uuid.NewString())
	if strings.HasSuffix(p, "*") {
		var first string
		_ = fs.WalkDir(web.Static(), ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && first == "" {
				first = path
			}
			return nil
		})
		p = strings.TrimSuffix(p, "*") + first
	}
	return p
}

// stateChanging are the methods a browser route must guard with the CSRF token.
var stateChanging = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// CSRF: every state-changing browser route of the route table (so a new one is
// covered without editing this test) refuses a request without the session's
// token, with a wrong one, with the token of another logged-in session and with
// the token of this browser's own session from before the login: a 403 with the
// "form expired" page, and no table changed. Control: the same request with the
// right token is not refused as CSRF.
func abuseCSRF(t *testing.T, e *abuseEnv) {
	posts := browserRoutes(e, stateChanging...)
	if len(posts) < 10 {
		t.Fatalf("only %d state-changing browser routes found: %v", len(posts), posts)
	}
	t.Logf("state-changing browser routes: %v", posts)
	for _, route := range posts {
		t.Run(strings.ReplaceAll(route, "/", "_"), func(t *testing.T) {
			pre := e.browser()
			pre.get("/login")
			preLogin := account.CSRFToken(pre.session())
			b := pre
			b.login(t, patientName, e.seed)
			other := e.loggedIn(t, "bart", account.RolePatient)
			ids := map[string]string{}
			if strings.Contains(route, "/toestemmingen/") {
				ids[route] = e.activeGrant(t, e.browser())
			}
			if strings.HasPrefix(route, "/ophalen/") {
				ids[route] = e.startTransfer(t, b)
			}
			path := fill(t, route, ids)
			f := authParams("state-csrf-0001", "")
			for k, v := range form("name", patientName, "password", testPassword, "code", "123456",
				"decision", "allow", "category", "problems", "bron", "bron@medmij") {
				f[k] = v
			}
			before := dbState(t, e.accountEnv)
			for _, tok := range []struct{ name, value string }{{"no token", ""}, {"wrong token", "x" + account.CSRFToken("x")},
				{"token of another session", account.CSRFToken(other.session())}, {"token from before the login", preLogin}} {
				g := url.Values{}
				for k, v := range f {
					g[k] = v
				}
				if tok.value != "" {
					g.Set(csrfField, tok.value)
				}
				w := b.post(path, g)
				refusedPage(t, tok.name, w.Code, w.Header().Get("Location"), w.Body.String(), http.StatusForbidden, "error.reason.csrf")
			}
			unchanged(t, e.accountEnv, before, "a forged POST "+path)
			if loggedOut(e.accountEnv, b.session()) {
				t.Fatal("a forged POST ended the session")
			}
			f.Set(csrfField, account.CSRFToken(b.session()))
			if w := b.post(path, f); w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), htmlText(web.T(web.NL, "error.reason.csrf"))) {
				t.Errorf("control: POST %s with the right token refused as CSRF", path)
			}
		})
	}
}

// activeGrant makes anouk consent (in browser b) and returns the new grant's id.
func (e *abuseEnv) activeGrant(t *testing.T, b *browser) string {
	t.Helper()
	e.codeFor(t, b, "state-grant-"+uuid.NewString()[:8], "")
	grants, err := e.svc.Grants(context.Background(), e.patient)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		if g.State == consent.StateActive {
			return g.ID
		}
	}
	t.Fatal("no active grant after consent")
	return ""
}

// startTransfer starts a transfer on the target pages and returns its id.
func (e *abuseEnv) startTransfer(t *testing.T, b *browser) string {
	t.Helper()
	w := b.post("/ophalen", form("csrf", b.csrf(t, "/ophalen"), "bron", "bron@medmij"))
	m := transferPathRE.FindStringSubmatch(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || m == nil {
		t.Fatalf("start transfer: %d %q", w.Code, w.Header().Get("Location"))
	}
	return m[1]
}

// Clickjacking: every browser page of the route table, its error and redirect
// answers included, forbids framing (X-Frame-Options DENY and CSP
// frame-ancestors 'none'), for a visitor and for a logged-in patient; so does the
// consent screen, whose CSP is widened for the form's redirect only.
func abuseClickjacking(t *testing.T, e *abuseEnv) {
	patient := e.loggedIn(t, patientName, account.RolePatient)
	paths := []string{"/no-such-page", "/oauth/authorize?" + authParams("state-frame-0001", "").Encode()}
	for _, r := range browserRoutes(e, http.MethodGet) {
		paths = append(paths, fill(t, r, nil))
	}
	for _, p := range paths {
		for _, b := range []*browser{e.browser(), patient} {
			w := b.get(p)
			csp := w.Header().Get("Content-Security-Policy")
			if w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("GET %s (%d): X-Frame-Options %q, CSP %q", p, w.Code, w.Header().Get("X-Frame-Options"), csp)
			}
		}
	}
	if w := patient.get(paths[1]); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="decision"`) {
		t.Errorf("control: the consent screen was not shown (%d), so its headers were not checked", w.Code)
	}
}

// audience says who may open a browser route.
type audience int

const (
	anyone audience = iota + 1
	anyLogin
	patientOnly
	auditorOnly
)

// audiences classifies every browser route; a new route must be added here (the
// test fails on an unknown one), so nobody forgets to decide who may use it.
var audiences = map[string]audience{
	"/": anyone, "/static/*": anyone, "/login": anyone, "/login/code": anyone, "/logout": anyLogin,
	"/logout/everywhere": anyLogin, "/login/oidc": anyone, "/login/oidc/callback": anyone,
	"/account": anyLogin, "/account/enrol": anyLogin, "/account/enrol/qr.png": anyLogin, "/account/enrol/confirm": anyLogin,
	"/account/password": anyLogin, "/audit": auditorOnly,
	"/mijn-log": patientOnly, "/mijn-dossier": patientOnly, "/mijn-dossier/pdf": patientOnly,
	"/oauth/authorize": patientOnly, "/toestemmingen": patientOnly, "/toestemmingen/:id/intrekken": patientOnly,
	"/ophalen": patientOnly, "/ophalen/:id": patientOnly, "/ophalen/:id/toestemming": patientOnly,
	"/ophalen/:id/opnieuw": patientOnly, "/ophalen/:id/events": patientOnly, "/oauth/callback": patientOnly,
	"/documenten": patientOnly, "/documenten/:id": patientOnly,
}

// Roles: the auditor's pages refuse a patient and the patient's pages (GET and
// POST, with a valid CSRF token) refuse an auditor, with 403 and the "not for
// your kind of account" page; a visitor is sent to the login page. Viewing
// refused nothing into the audit log as viewed. Control: the right role gets in.
func abuseRoles(t *testing.T, e *abuseEnv) {
	patient := e.loggedIn(t, patientName, account.RolePatient)
	auditor := e.loggedIn(t, "eva", account.RoleAuditor)
	views := countAudit(t, e.accountEnv, audit.ActAuditViewed, "", "")
	for _, route := range browserRoutes(e, append(stateChanging, http.MethodGet)...) {
		aud, ok := audiences[route]
		if !ok {
			t.Errorf("browser route %s has no audience in the abuse suite: decide who may use it", route)
			continue
		}
		var wrong *browser
		switch aud {
		case patientOnly:
			wrong = auditor
		case auditorOnly:
			wrong = patient
		default:
			continue
		}
		path := fill(t, route, nil)
		if route == "/oauth/authorize" {
			path += "?" + authParams("state-role-0001", "").Encode()
		}
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if !routeHas(e, m, route) {
				continue
			}
			before := dbState(t, e.accountEnv)
			var f url.Values
			if m == http.MethodPost {
				f = form(csrfField, account.CSRFToken(wrong.session()), "bron", "bron@medmij", "decision", "allow", "category", "problems")
			}
			w := wrong.do(m, path, f)
			refusedPage(t, m+" "+route+" by the wrong role", w.Code, w.Header().Get("Location"), w.Body.String(), http.StatusForbidden, "error.reason.role")
			unchanged(t, e.accountEnv, before, m+" "+route+" by the wrong role")
			if m == http.MethodGet {
				if w := e.browser().get(path); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?next=") {
					t.Errorf("GET %s without login: %d %q", route, w.Code, w.Header().Get("Location"))
				}
			}
		}
	}
	if n := countAudit(t, e.accountEnv, audit.ActAuditViewed, "", ""); n != views {
		t.Errorf("%d audit views recorded for refused requests", n-views)
	}
	if w := auditor.get("/audit"); w.Code != http.StatusOK {
		t.Errorf("control: the auditor's /audit: %d", w.Code)
	}
	for _, p := range []string{"/mijn-log", "/mijn-dossier", "/toestemmingen", "/ophalen", "/documenten"} {
		if w := patient.get(p); w.Code != http.StatusOK {
			t.Errorf("control: the patient's %s: %d", p, w.Code)
		}
	}
}

func routeHas(e *abuseEnv, method, path string) bool {
	for _, r := range e.s.echo.Routes() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}
