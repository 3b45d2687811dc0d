package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/account"
)

// The CSRF token is taken from the form body only: a POST whose right token
// rides in the query string (where it leaks into access logs, history and
// Referer headers; ASVS 5.0 V3.5.1, V14.2.1) is refused as a CSRF failure and
// changes nothing; the same token in the body still works.
func TestCSRFTokenNotTakenFromQuery(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	tok := b.csrf(t, "/account")
	e.secrets = append(e.secrets, tok)

	w := b.post("/logout?csrf="+url.QueryEscape(tok), url.Values{})
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "Het formulier is verlopen") {
		t.Fatalf("POST /logout with the token only in the query: %d, want 403 (CSRF)\n%s", w.Code, w.Body)
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("the refused logout ended the session: GET /account %d", w.Code)
	}
	if w := b.post("/logout", url.Values{"csrf": {tok}}); w.Code != http.StatusSeeOther {
		t.Fatalf("POST /logout with the token in the body: %d, want 303", w.Code)
	}
}

// A session lookup that fails in the database is a server error with the
// error page, not "logged out": no redirect to the login page (which would
// send the user round and start a visitor session), no new or cleared cookie,
// and a valid form post is not answered as if there were no session.
func TestSessionLookupFailureIsServerError(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	tok := b.csrf(t, "/account")
	e.secrets = append(e.secrets, tok)
	sid := b.session()

	// The store loses its sessions table for real (a broken migration, an
	// operator's mistake); the rest of the database still answers.
	if _, err := e.db.Pool.Exec(context.Background(), `drop table sessions cascade`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodGet, "/account", nil},
		{http.MethodGet, "/login", nil},
		{http.MethodGet, "/login/code", nil},
		{http.MethodPost, "/logout/everywhere", url.Values{"csrf": {tok}}},
	} {
		w := b.do(tc.method, tc.path, tc.form)
		if w.Code != http.StatusInternalServerError && w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the sessions table gone: %d (Location %q), want 500 or 503",
				tc.method, tc.path, w.Code, w.Header().Get("Location"))
			continue
		}
		if loc := w.Header().Get("Location"); loc != "" {
			t.Errorf("%s %s: redirects to %q", tc.method, tc.path, loc)
		}
		if ck := w.Header().Values("Set-Cookie"); len(ck) != 0 {
			t.Errorf("%s %s: sets cookies %q", tc.method, tc.path, ck)
		}
		if !strings.Contains(w.Body.String(), "<html") {
			t.Errorf("%s %s: no error page:\n%s", tc.method, tc.path, w.Body)
		}
	}
	if b.session() != sid {
		t.Error("the browser's session cookie changed")
	}
}

// The consent screen reads the session itself (no requireLogin): a failed
// lookup there is a server error too, not a detour through the login page.
func TestConsentScreenSessionLookupFailure(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	b.login(t, patientName, e.seed)
	if _, err := e.db.Pool.Exec(context.Background(), `drop table sessions cascade`); err != nil {
		t.Fatal(err)
	}
	w := b.get("/oauth/authorize?" + authParams("state-of-this-test-0001", s256("verifier-verifier-verifier-verifier-verifier")).Encode())
	if w.Code != http.StatusInternalServerError || w.Header().Get("Location") != "" {
		t.Fatalf("consent screen with the sessions table gone: %d (Location %q), want 500", w.Code, w.Header().Get("Location"))
	}
}

// HEAD /login answers the page's status and headers without starting a
// visitor session: a HEAD response has no body, so no form needs a token, and
// a crawler or monitor probing the page writes no rows. GET still starts one.
func TestHeadLoginStartsNoSession(t *testing.T) {
	e := newAccountEnv(t)
	rows := func() int {
		var n int
		if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	b := e.browser()
	w := b.do(http.MethodHead, "/login", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("HEAD /login: %d %q, want 200 text/html", w.Code, w.Header().Get("Content-Type"))
	}
	if ck := w.Header().Values("Set-Cookie"); len(ck) != 0 || rows() != 0 {
		t.Fatalf("HEAD /login set cookies %q and left %d session rows; want none", ck, rows())
	}
	if w.Body.Len() != 0 {
		t.Errorf("HEAD /login has a body of %d bytes", w.Body.Len())
	}
	b.csrf(t, "/login")
	if b.session() == "" || rows() != 1 {
		t.Fatalf("GET /login after HEAD: cookie %v, %d rows; want a visitor session", b.session() != "", rows())
	}
}
