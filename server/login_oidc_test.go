package server

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accounttest"
)

// The OIDC login through the pages, against the real OpenID Provider: the browser
// goes to the provider, logs in there and comes back logged in here (at acr
// substantial), or sees the refusal page (acr low).
func TestOIDCLoginPages(t *testing.T) {
	e, ts, op := newOIDCEnv(t)

	for _, tc := range []struct {
		user   string
		status int
		path   string
		want   string
	}{
		{accounttest.UserSubstantial, 200, "/account", "oidc-"},
		{accounttest.UserLow, 401, "/login/oidc/callback", "inlogdienst is niet gelukt"},
	} {
		hc := ts.Client()
		hc.Jar, _ = cookiejar.New(nil)
		resp, err := hc.Get(ts.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `href="/login/oidc"`) {
			t.Fatal("login page has no link to the identity provider")
		}
		resp, err = hc.Get(ts.URL + "/login/oidc")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Request.URL.Query().Get("authRequestID")
		if id == "" {
			t.Fatalf("not at the provider's login page: %s", resp.Request.URL)
		}
		resp, err = hc.PostForm(op.Issuer+"login/username", url.Values{"id": {id}, "username": {tc.user}, "password": {accounttest.Password}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Request.URL.Path != tc.path || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d at %s\n%s", tc.user, resp.StatusCode, resp.Request.URL.Path, body)
		}
		u, _ := url.Parse(ts.URL)
		for _, c := range hc.Jar.Cookies(u) {
			e.secrets = append(e.secrets, c.Value)
		}
	}
	// An external login started for a waiting page (an authorization request
	// carried as ?next=) returns there; a next that is not local gives the
	// account page (no open redirect through the provider).
	for _, tc := range []struct{ next, want string }{
		{"/oauth/authorize?client_id=zuid.localhost&state=abcdefgh", "/oauth/authorize"},
		{"https://evil.example/", "/account"},
		{"//evil.example/", "/account"},
	} {
		hc := ts.Client()
		hc.Jar, _ = cookiejar.New(nil)
		hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == strings.TrimPrefix(ts.URL, "https://") && req.URL.Path != "/login/oidc/callback" && req.URL.Path != "/login/oidc" {
				return http.ErrUseLastResponse // stop where we land after the callback
			}
			return nil
		}
		if _, err := hc.Get(ts.URL + "/login?next=" + url.QueryEscape(tc.next)); err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(ts.URL + "/login/oidc?next=" + url.QueryEscape(tc.next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, err = hc.PostForm(op.Issuer+"login/username", url.Values{"id": {id}, "username": {accounttest.UserSubstantial}, "password": {accounttest.Password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "" || loc.Path != tc.want {
			t.Errorf("next %q: %d to %q; want %s", tc.next, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
		u, _ := url.Parse(ts.URL)
		for _, c := range hc.Jar.Cookies(u) {
			e.secrets = append(e.secrets, c.Value)
		}
	}
	// Nothing from the provider's redirect (code, state) reaches a log line.
	if m := regexp.MustCompile(`code=[A-Za-z0-9_-]{10,}`).FindString(e.logs.String()); m != "" {
		t.Errorf("authorization code in the log: %s", m)
	}
}

// A failed external login renders the login page at the callback address; its
// language switch must lead to /login, not repeat the callback's single-use
// code and state (they would reach the history, a Referer, a second
// redemption attempt).
func TestOIDCFailurePageLinksToLogin(t *testing.T) {
	e, ts, op := newOIDCEnv(t)

	hc := ts.Client()
	hc.Jar, _ = cookiejar.New(nil)
	resp, err := hc.Get(ts.URL + "/login/oidc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	// acr low: the provider sends a real code, which the callback refuses.
	resp, err = hc.PostForm(op.Issuer+"login/username", url.Values{"id": {id}, "username": {accounttest.UserLow}, "password": {accounttest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	code := resp.Request.URL.Query().Get("code")
	e.secrets = append(e.secrets, code)
	if resp.Request.URL.Path != "/login/oidc/callback" || code == "" || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("not the refused callback: %d at %s", resp.StatusCode, resp.Request.URL.Path)
	}
	if strings.Contains(page, code) || strings.Contains(page, "code=") || strings.Contains(page, "state=") ||
		strings.Contains(page, "/login/oidc/callback") {
		t.Errorf("the page repeats the callback's query:\n%s", regexp.MustCompile(`href="[^"]*"`).FindAllString(page, -1))
	}
	if !strings.Contains(page, `href="/login?lang=en"`) {
		t.Errorf("no language link to /login?lang=en:\n%s", regexp.MustCompile(`href="[^"]*"`).FindAllString(page, -1))
	}
	u, _ := url.Parse(ts.URL)
	for _, c := range hc.Jar.Cookies(u) {
		e.secrets = append(e.secrets, c.Value)
	}
}

// newOIDCEnv is the account pages with the external login against the real
// OpenID Provider of accounttest, served over TLS by ts.
func newOIDCEnv(t *testing.T) (*accountEnv, *httptest.Server, *accounttest.OP) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	op := accounttest.Start(t, ts.URL+"/login/oidc/callback")
	e := newAccountEnv(t, func(svc *account.Service, d *AccountDeps) {
		o, err := svc.NewOIDC(context.Background(), account.OIDCConfig{Issuer: op.Issuer,
			ClientID: accounttest.ClientID, ClientSecret: accounttest.ClientSecret,
			RedirectURL: ts.URL + "/login/oidc/callback", MinACR: accounttest.ACRSubstantial})
		if err != nil {
			t.Fatal(err)
		}
		o.TokenNow = time.Now
		d.OIDC = o
	})
	e.secrets = append(e.secrets, accounttest.Password, accounttest.ClientSecret)
	ts.Config.Handler = e.s.Handler()
	return e, ts, op
}

// The page to return to after an external login travels in a __Host- cookie
// (Secure, host-only, Path=/), which a sibling subdomain cannot plant.
func TestOIDCNextCookieIsHostOnly(t *testing.T) {
	e, ts, _ := newOIDCEnv(t)
	hc := ts.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(ts.URL + "/login/oidc?next=" + url.QueryEscape("/mijn-log"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var next *http.Cookie
	for _, c := range resp.Cookies() {
		e.secrets = append(e.secrets, c.Value)
		if strings.Contains(c.Name, "oidc-next") {
			next = c
		}
	}
	if next == nil || next.Name != "__Host-pgo-oidc-next" || next.Path != "/" || next.Domain != "" || !next.Secure || !next.HttpOnly {
		t.Fatalf("next cookie %+v: want __Host-pgo-oidc-next, Path=/, no Domain, Secure, HttpOnly", next)
	}
}

// HEAD /login/oidc (a link checker, a prefetch) answers without starting a
// login: no visitor session, no pending OIDC request, no cookie. GET still
// starts one.
func TestHeadOIDCStartWritesNothing(t *testing.T) {
	e, _, _ := newOIDCEnv(t)
	rows := func() (sessions, requests int) {
		t.Helper()
		if err := e.db.Pool.QueryRow(context.Background(),
			`select (select count(*) from sessions), (select count(*) from oidc_requests)`).Scan(&sessions, &requests); err != nil {
			t.Fatal(err)
		}
		return sessions, requests
	}
	b := e.browser()
	w := b.do(http.MethodHead, "/login/oidc?next=/mijn-log", nil)
	sessions, requests := rows()
	if ck := w.Header().Values("Set-Cookie"); len(ck) != 0 || sessions != 0 || requests != 0 || w.Body.Len() != 0 {
		t.Fatalf("HEAD /login/oidc: %d, cookies %q, %d sessions, %d OIDC requests, %d body bytes; want none of them",
			w.Code, ck, sessions, requests, w.Body.Len())
	}
	if w.Code != http.StatusNoContent {
		t.Errorf("HEAD /login/oidc: %d, want 204", w.Code)
	}
	if w := b.get("/login/oidc"); w.Code != http.StatusSeeOther {
		t.Fatalf("GET /login/oidc after HEAD: %d, want 303", w.Code)
	}
	if sessions, requests := rows(); sessions != 1 || requests != 1 {
		t.Fatalf("GET /login/oidc after HEAD: %d sessions, %d OIDC requests; want 1, 1", sessions, requests)
	}
}

// A login started with ?next= and abandoned at the provider leaves its next
// cookie for ten minutes; a login started after it without next clears it, so
// its callback lands on the account page, not on the abandoned one's page.
func TestOIDCStartWithoutNextClearsStaleNext(t *testing.T) {
	e, ts, op := newOIDCEnv(t)
	hc := ts.Client()
	hc.Jar, _ = cookiejar.New(nil)
	stop := true
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if stop || req.URL.Host == strings.TrimPrefix(ts.URL, "https://") && req.URL.Path != "/login/oidc/callback" {
			return http.ErrUseLastResponse // stop where we land after the callback
		}
		return nil
	}
	start := func(path string) *http.Response {
		t.Helper()
		resp, err := hc.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET %s: %d, want 303", path, resp.StatusCode)
		}
		return resp
	}
	start("/login/oidc?next=" + url.QueryEscape("/mijn-log")) // abandoned at the provider
	resp := start("/login/oidc")
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || c.Name == oidcNextCookie && c.MaxAge < 0
	}
	if !cleared {
		t.Errorf("a login without next left the earlier next cookie: Set-Cookie %q", resp.Header.Values("Set-Cookie"))
	}
	stop = false
	resp, err := hc.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not at the provider's login page: %s", resp.Request.URL)
	}
	resp, err = hc.PostForm(op.Issuer+"login/username", url.Values{"id": {id}, "username": {accounttest.UserSubstantial}, "password": {accounttest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/account" {
		t.Errorf("after the callback: %d to %q, want 303 to /account", resp.StatusCode, loc)
	}
	u, _ := url.Parse(ts.URL)
	for _, c := range hc.Jar.Cookies(u) {
		e.secrets = append(e.secrets, c.Value)
	}
}
