package server

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/web"
)

// An authorization request whose client or redirect_uri cannot be verified gets
// an error page here and is never redirected (RFC 9700 §4.1.1, §4.11.2); the
// refusal is audited with its reason.
func TestAuthorizeRefusedWithPage(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	tests := []struct {
		name, reason, text string
		edit               func(url.Values)
	}{
		{"unknown client", "unknown_client", "consent.error.unknown_client", func(v url.Values) { v.Set("client_id", "nergens.localhost") }},
		{"no client_id", "unknown_client", "consent.error.unknown_client", func(v url.Values) { v.Del("client_id") }},
		{"client on the OCL without registered redirect", "client_not_registered", "consent.error.unknown_client", func(v url.Values) { v.Set("client_id", "onbekend.localhost") }},
		{"client not on the OCL", "client_not_on_ocl", "consent.error.client_not_on_ocl", func(v url.Values) {
			v.Set("client_id", "weg.localhost")
			v.Set("redirect_uri", "https://weg.localhost/cb")
		}},
		{"redirect_uri missing", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Del("redirect_uri") }},
		{"redirect_uri trailing slash", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", zuidCallback+"/") }},
		{"redirect_uri other case", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", "https://zuid.localhost/OAuth/callback") }},
		{"redirect_uri host case", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", "https://ZUID.localhost/oauth/callback") }},
		{"redirect_uri extra query", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", zuidCallback+"?x=1") }},
		{"redirect_uri other port", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", "https://zuid.localhost:8443/oauth/callback") }},
		{"redirect_uri http", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", "http://zuid.localhost/oauth/callback") }},
		{"redirect_uri fragment", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", zuidCallback+"#x") }},
		{"redirect_uri of another client", "invalid_redirect_uri", "consent.error.redirect_uri", func(v url.Values) { v.Set("redirect_uri", "https://vier.localhost/cb") }},
		{"redirect_uri twice", "duplicate_parameter", "consent.error.request", func(v url.Values) { v.Add("redirect_uri", "https://evil.example/cb") }},
		{"state twice", "duplicate_parameter", "consent.error.request", func(v url.Values) { v.Add("state", "state-other-1") }},
	}
	b := e.browser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := authParams("state-page-1", "")
			tt.edit(v)
			w := b.get("/oauth/authorize?" + v.Encode())
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want the 400 error page, no redirect", w.Code, w.Header().Get("Location"))
			}
			if !strings.Contains(w.Body.String(), web.T(web.NL, tt.text)) {
				t.Errorf("page lacks %q", web.T(web.NL, tt.text))
			}
			r := e.wantAudit(t, audit.ActAuthorizeRefused, tt.reason)
			if r.CorrelationID != "c0ffee00-1111-4222-8333-444455556666" || r.RequestID != "7d1c5f6e-0d3b-4a55-9f4e-2f1a3b4c5d6e" || r.SourceIP != "192.0.2.1" {
				t.Errorf("audit ids %s %s ip %s", r.RequestID, r.CorrelationID, r.SourceIP)
			}
		})
	}
}

// Other problems go back to the verified redirect_uri with error, state and iss
// (RFC 6749 §4.1.2.1, RFC 9207), before any login, each audited.
func TestAuthorizeRefusedWithRedirect(t *testing.T) {
	e := newConsentEnv(t, consentOpts{requirePKCE: true})
	ch := s256(verifier)
	tests := []struct {
		name, code, reason string
		edit               func(url.Values)
	}{
		{"bad scope", "invalid_scope", "invalid_scope", func(v url.Values) { v.Set("scope", "noord~4") }},
		{"other provider's scope", "invalid_scope", "invalid_scope", func(v url.Values) { v.Set("scope", "zuid~51") }},
		{"two scopes", "invalid_scope", "invalid_scope", func(v url.Values) { v.Set("scope", "noord~51 noord~4") }},
		{"no scope", "invalid_scope", "invalid_scope", func(v url.Values) { v.Del("scope") }},
		{"client not allowed gegevensdienst 51", "invalid_scope", "invalid_scope", func(v url.Values) {
			v.Set("client_id", "vier.localhost")
			v.Set("redirect_uri", "https://vier.localhost/cb")
		}},
		{"missing state", "invalid_request", "invalid_request", func(v url.Values) { v.Del("state") }},
		{"short state", "invalid_request", "invalid_request", func(v url.Values) { v.Set("state", "abc") }},
		{"response_type token", "unsupported_response_type", "unsupported_response_type", func(v url.Values) { v.Set("response_type", "token") }},
		{"no response_type", "invalid_request", "invalid_request", func(v url.Values) { v.Del("response_type") }},
		{"no PKCE while required", "invalid_request", "invalid_request", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }},
		{"PKCE plain", "invalid_request", "invalid_request", func(v url.Values) { v.Set("code_challenge_method", "plain") }},
		{"bad correlation id", "invalid_request", "invalid_request", func(v url.Values) { v.Set("X-Correlation-ID", "bad id") }},
	}
	b := e.browser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := authParams("state-redirect-1", ch)
			tt.edit(v)
			w := b.get("/oauth/authorize?" + v.Encode())
			loc, _ := url.Parse(w.Header().Get("Location"))
			if w.Code != http.StatusSeeOther || loc == nil {
				t.Fatalf("status %d: want a redirect", w.Code)
			}
			q := loc.Query()
			back := loc.Scheme + "://" + loc.Host + loc.Path
			if back != v.Get("redirect_uri") || q.Get("error") != tt.code || q.Get("iss") != testIssuer ||
				q.Get("state") != v.Get("state") || q.Get("code") != "" {
				t.Errorf("redirect %s", loc)
			}
			e.wantAudit(t, audit.ActAuthorizeRefused, tt.reason)
		})
	}
}

// Before login the request is carried through the login pages as a local
// ?next= path (no open redirect), and after the two factors the consent screen
// appears in MedMij's wording with the receiving PGO's name from the OCL (never
// from the request), the gegevensdienst's name from the GNL, the categories with
// counts (all ticked), a preview and two equal buttons; its CSP lets the form
// lead to the client's redirect_uri.
func TestConsentScreenAfterLogin(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	params := authParams("state-login-1", "")
	w := b.get("/oauth/authorize?" + params.Encode())
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=%2Foauth%2Fauthorize%3F") {
		t.Fatalf("before login: %d %s", w.Code, loc)
	}
	next, _ := url.Parse(loc)
	b.login(t, patientName, e.seed) // login drops ?next=; walk it explicitly below
	// A HEAD shows the patient nothing: 200, no body, no consent_shown record.
	if h := b.do(http.MethodHead, next.Query().Get("next"), nil); h.Code != http.StatusOK || h.Body.Len() != 0 ||
		len(e.auditRecords(t, audit.ActConsentShown)) != 0 {
		t.Fatalf("HEAD: %d, %d body bytes, %d consent_shown records", h.Code, h.Body.Len(), len(e.auditRecords(t, audit.ActConsentShown)))
	}
	w = b.get(next.Query().Get("next"))
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("consent screen %d", w.Code)
	}
	for _, want := range []string{web.T(web.NL, "consent.title"), "PGO Zuid", "Verzamelen Documenten 3.0 (pdf/a)",
		`name="category" value="problems" checked`, `value="allow" class="secondary"`, `value="refuse" class="secondary"`,
		`name="state" value="state-login-1"`, web.T(web.NL, "consent.preview")} {
		if !strings.Contains(body, want) {
			t.Errorf("consent screen lacks %q", want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://zuid.localhost;") {
		t.Errorf("CSP %q does not allow the redirect to the client", csp)
	}
	if strings.Contains(body, "onbepaalde tijd") || strings.Contains(body, "langdurige toestemming") ||
		strings.Count(body, `type="checkbox"`) != strings.Count(body, `name="category"`) {
		t.Error("the screen offers lasting consent")
	}
	e.wantAudit(t, audit.ActConsentShown, "")
	en := b.get("/oauth/authorize?" + params.Encode() + "&lang=en").Body.String()
	if !strings.Contains(en, web.T(web.EN, "consent.allow")) || !strings.Contains(en, "Problems") {
		t.Error("English consent screen")
	}
}

// The login pages carry ?next= through both steps to the consent screen.
func TestConsentLoginCarriesRequest(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	params := authParams("state-carry-1", "")
	next := "/oauth/authorize?" + params.Encode()
	login := "/login?next=" + url.QueryEscape(next)
	w := b.post(login, url.Values{"csrf": {b.csrf(t, login)}, "name": {patientName}, "password": {testPassword}})
	code := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(code, "/login/code?next=") {
		t.Fatalf("password step: %d %s", w.Code, code)
	}
	totp := totpNow(e)
	w = b.post(code, url.Values{"csrf": {b.csrf(t, code)}, "code": {totp}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != next {
		t.Fatalf("code step: %d %s, want back to the authorization request", w.Code, w.Header().Get("Location"))
	}
	if w = b.get(next); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "PGO Zuid") {
		t.Fatalf("consent screen after login: %d", w.Code)
	}
}

// Refusing redirects with error=access_denied, state and iss, records a refused
// grant and its audit record; allow without a category shows the screen again.
func TestConsentRefuseAndNoCategory(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	u := e.consentTo(t, b, authParams("state-refuse-1", ""), "refuse")
	q := u.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "state-refuse-1" || q.Get("iss") != testIssuer || q.Get("code") != "" {
		t.Errorf("refuse redirect %s", u)
	}
	e.wantAudit(t, audit.ActConsentDenied, "")
	g, _ := e.svc.Grants(context.Background(), e.patient)
	if len(g) != 1 || g[0].State != consent.StateRefused {
		t.Errorf("grants %+v", g)
	}
	// allow with nothing ticked
	params := authParams("state-none-1", "")
	w := b.get("/oauth/authorize?" + params.Encode())
	form := url.Values{"csrf": {hiddenCSRF.FindStringSubmatch(w.Body.String())[1]}, "decision": {"allow"}}
	for k, v := range params {
		form[k] = v
	}
	w = b.post("/oauth/authorize", form)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), html.EscapeString(web.T(web.NL, "consent.error.no_category"))) {
		t.Errorf("allow without category: %d", w.Code)
	}
	if strings.Contains(w.Body.String(), "checked") {
		t.Error("the screen shown again ticks categories the patient did not tick")
	}
	// a forged category
	form["category"] = []string{"nonsense"}
	if w = b.post("/oauth/authorize", form); w.Code != http.StatusBadRequest {
		t.Errorf("unknown category: %d", w.Code)
	}
	// without the CSRF token
	form.Del("csrf")
	form["category"] = []string{"problems"}
	if w = b.post("/oauth/authorize", form); w.Code != http.StatusForbidden {
		t.Errorf("no CSRF: %d", w.Code)
	}
	if n := len(e.auditRecords(t, audit.ActConsentGranted)); n != 0 {
		t.Errorf("%d consents granted", n)
	}
}

// A selection over the most items one document may hold (PGO_EXPORT_MAX_ITEMS)
// shows the consent screen again (422) with the error naming the selection's items
// and the maximum, in Dutch and, after the English switch, in English; the chosen
// parts stay ticked, and nothing is granted.
func TestConsentTooLarge(t *testing.T) {
	e := newConsentEnv(t, consentOpts{maxItems: 2})
	b := e.browser()
	b.login(t, patientName, e.seed)
	cats := []string{"problems", "allergies"}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from dossier_resource where user_id = $1 and category = any($2)`,
		e.patient, cats).Scan(&n); err != nil || n <= 2 {
		t.Fatalf("the selection holds %d items (%v); the test needs more than 2", n, err)
	}
	for _, l := range []web.Lang{web.NL, web.EN} {
		params := authParams("state-large-"+string(l), "")
		w := b.get("/oauth/authorize?" + params.Encode() + "&lang=" + string(l))
		form := url.Values{"csrf": {hiddenCSRF.FindStringSubmatch(w.Body.String())[1]}, "decision": {"allow"}, "category": cats}
		for k, v := range params {
			form[k] = v
		}
		w = b.post("/oauth/authorize", form)
		want := html.EscapeString(web.T(l, consent.ReasonTooLarge, web.Number(l, n), web.Number(l, 2)))
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, want 422 with %q\n%s", l, w.Code, want, w.Body)
		}
		if strings.Count(w.Body.String(), " checked") != len(cats) {
			t.Errorf("%s: the screen shown again does not tick the %d parts chosen", l, len(cats))
		}
	}
	if web.T(web.NL, consent.ReasonTooLarge, "1", "2") == web.T(web.EN, consent.ReasonTooLarge, "1", "2") {
		t.Error("consent.error.too_large has no Dutch text of its own")
	}
	if g, _ := e.svc.Grants(context.Background(), e.patient); len(g) != 0 || len(e.auditRecords(t, audit.ActConsentGranted)) != 0 {
		t.Errorf("grants %+v after a selection over the maximum", g)
	}
}

// Deselecting a category: only the ticked ones go into the grant and its export.
func TestConsentSelection(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	e.consentTo(t, b, authParams("state-select-1", ""), "allow", "allergies")
	g, _ := e.svc.Grants(context.Background(), e.patient)
	if len(g) != 1 || len(g[0].Categories) != 1 || g[0].Categories[0] != "allergies" || g[0].ExportJobID == "" {
		t.Fatalf("grant %+v", g)
	}
	var cats []string
	if err := e.db.Pool.QueryRow(context.Background(), `select categories from export_job where id = $1`, g[0].ExportJobID).Scan(&cats); err != nil {
		t.Fatal(err)
	}
	var outbox int
	_ = e.db.Pool.QueryRow(context.Background(), `select count(*) from outbox where task_type = 'export:render'`).Scan(&outbox)
	if len(cats) != 1 || cats[0] != "allergies" || outbox != 1 {
		t.Errorf("export job categories %v, outbox rows %d", cats, outbox)
	}
}

// "Mijn toestemmingen" lists the grants with their state; withdrawing (POST with
// CSRF) ends one at once and is audited; another patient cannot withdraw it.
func TestGrantsPageAndWithdraw(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	e.consentTo(t, b, authParams("state-grants-1", ""), "allow", "problems")
	e.consentTo(t, b, authParams("state-grants-2", ""), "refuse")
	w := b.get("/toestemmingen")
	body := w.Body.String()
	if w.Code != http.StatusOK || !hasAll(body, "PGO Zuid", "Problemen", web.T(web.NL, "consent.state.active"),
		web.T(web.NL, "consent.state.refused"), "/intrekken") {
		t.Fatalf("grants page %d\n%s", w.Code, body)
	}
	g, _ := e.svc.Grants(context.Background(), e.patient)
	var active string
	for _, x := range g {
		if x.State == consent.StateActive {
			active = x.ID
		}
	}
	// once the document is rendered, the list says how many pages it has (a
	// withdrawal before the render would leave it unrendered: see
	// TestConsentEndedBeforeRenderIsNotRendered)
	var job string
	for _, x := range g {
		if x.ID == active {
			job = x.ExportJobID
		}
	}
	if err := e.jobs.Render(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	rendered, _ := e.jobs.Job(context.Background(), job)
	if body := b.get("/toestemmingen").Body.String(); rendered.Pages == 0 || !strings.Contains(body, html.EscapeString(web.T(web.NL, "grants.pages", web.Number(web.NL, rendered.Pages)))) {
		t.Errorf("page count %d not on the list", rendered.Pages)
	}
	// another patient
	_, seed := e.createUser(t, "bram", "patient")
	other := e.browser()
	other.login(t, "bram", seed)
	csrf := other.csrf(t, "/toestemmingen")
	if w := other.post("/toestemmingen/"+active+"/intrekken", url.Values{"csrf": {csrf}}); w.Code != http.StatusNotFound {
		t.Errorf("another patient's withdraw: %d", w.Code)
	}
	if w := b.post("/toestemmingen/"+active+"/intrekken", url.Values{}); w.Code != http.StatusForbidden {
		t.Errorf("withdraw without CSRF: %d", w.Code)
	}
	w = b.post("/toestemmingen/"+active+"/intrekken", url.Values{"csrf": {b.csrf(t, "/toestemmingen")}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/toestemmingen?info=withdrawn" {
		t.Fatalf("withdraw: %d %s", w.Code, w.Header().Get("Location"))
	}
	if body := b.get("/toestemmingen?info=withdrawn").Body.String(); !hasAll(body, web.T(web.NL, "grants.withdrawn"), web.T(web.NL, "consent.state.withdrawn")) {
		t.Error("grants page after withdraw")
	}
	if r := e.wantAudit(t, audit.ActConsentWithdrawn, ""); r.PersonID != e.patient || r.ObjectID != active {
		t.Errorf("withdraw record %+v", r)
	}
	w = b.post("/toestemmingen/"+active+"/intrekken", url.Values{"csrf": {b.csrf(t, "/toestemmingen")}})
	if w.Code != http.StatusConflict {
		t.Errorf("second withdraw: %d", w.Code)
	}
}

// A double submit of the consent screen (the same authorization request decided
// twice before the client redeemed the first code): the browser follows the
// last answer, so the earlier grant ends as superseded with its code and export,
// and only the later one is live. The later decision's audit record names the
// grant it replaced. A decision for another request (another state) replaces
// nothing, and neither does one after the first code was redeemed.
func TestConsentDoubleSubmit(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	first := e.codeFor(t, b, "state-double-1", "")
	second := e.codeFor(t, b, "state-double-1", "")
	if _, err := e.exchange(t, first, ""); oauthCode(err) != "invalid_grant" {
		t.Fatalf("the superseded code: %v, want invalid_grant", err)
	}
	if _, err := e.exchange(t, second, ""); err != nil {
		t.Fatalf("the last decision's code: %v", err)
	}
	grants, err := e.svc.Grants(context.Background(), e.patient)
	if err != nil {
		t.Fatal(err)
	}
	states := map[consent.State]int{}
	for _, g := range grants {
		states[g.State]++
	}
	if len(grants) != 2 || states[consent.StateSuperseded] != 1 || states[consent.StateActive] != 1 {
		t.Fatalf("grants %v; want one superseded, one active", states)
	}
	var superseded consent.Grant
	for _, g := range grants {
		if g.State == consent.StateSuperseded {
			superseded = g
		}
	}
	var ended *time.Time
	if err := e.db.Pool.QueryRow(context.Background(), `select grant_ended_at from export_job where id = $1`, superseded.ExportJobID).Scan(&ended); err != nil || ended == nil {
		t.Fatalf("the superseded grant's export has no end: %v %v", ended, err)
	}
	named := false
	for _, r := range e.auditRecords(t, audit.ActConsentGranted) {
		named = named || r.Details["supersedes"] == superseded.ID
	}
	if !named {
		t.Error("no consent_granted record names the grant it superseded")
	}
	if !strings.Contains(b.get("/toestemmingen").Body.String(), web.T(web.NL, "consent.state.superseded")) {
		t.Error("the grants page does not show the superseded grant as such")
	}
	// Another request, and the same request after its code was redeemed: nothing replaced.
	e.codeFor(t, b, "state-double-2", "")
	e.codeFor(t, b, "state-double-1", "")
	grants, _ = e.svc.Grants(context.Background(), e.patient)
	n := 0
	for _, g := range grants {
		if g.State == consent.StateSuperseded {
			n++
		}
	}
	if len(grants) != 4 || n != 1 {
		t.Fatalf("%d grants, %d superseded; want 4 and 1", len(grants), n)
	}
}
