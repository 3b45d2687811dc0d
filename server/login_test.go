package server

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/web"
)

func TestLoginPagesRotateSessionAndSetHostCookie(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()

	w := b.get("/login")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `autocomplete="current-password"`) {
		t.Fatalf("GET /login: %d", w.Code)
	}
	ck := b.cookies[sessionCookie]
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("session cookie %+v: want __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", ck)
	}
	anon := b.session()
	w = b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	mfa := b.session()
	if w.Code != http.StatusSeeOther || mfa == anon {
		t.Fatalf("password step: %d, rotated %v", w.Code, mfa != anon)
	}
	if w := b.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("half-logged-in session reached /account: %d", w.Code)
	}
	code := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, code)
	w = b.post("/login/code?next=/mijn-log", url.Values{"csrf": {b.csrf(t, "/login/code")}, "code": {code}})
	full := b.session()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/mijn-log" || full == mfa || full == anon {
		t.Fatalf("code step: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := b.get("/account"); w.Code != 200 || !strings.Contains(w.Body.String(), "jan") {
		t.Fatalf("/account: %d", w.Code)
	}
	// The pre-login ids are dead: a browser holding one is not logged in.
	for _, old := range []string{anon, mfa} {
		o := e.browser()
		o.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: old}
		if w := o.get("/account"); w.Code != http.StatusSeeOther {
			t.Errorf("old session id still logged in: %d", w.Code)
		}
	}
	// A replayed TOTP code is refused on the page too.
	b2 := e.browser()
	b2.post("/login", url.Values{"csrf": {b2.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	if w := b2.post("/login/code", url.Values{"csrf": {b2.csrf(t, "/login/code")}, "code": {code}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d", w.Code)
	}
}

// A double click on the code step: the second request carries the
// half-logged-in session that the first one ended when it logged in. It must
// not set a visitor session (which would replace the new login's cookie and
// look like a logout) and not count as a wrong code: it goes on to next.
func TestLoginCodeDoubleSubmitKeepsTheLogin(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	mfa, csrf := b.session(), b.csrf(t, "/login/code")
	code := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, code)
	if w := b.post("/login/code?next=/mijn-log", url.Values{"csrf": {csrf}, "code": {code}}); w.Code != http.StatusSeeOther {
		t.Fatalf("first submit: %d", w.Code)
	}
	full := b.session()
	req := httptest.NewRequest(http.MethodPost, "/login/code?next=/mijn-log", strings.NewReader(url.Values{"csrf": {csrf}, "code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: mfa})
	w := do(e.s, req)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/mijn-log" || len(w.Result().Cookies()) != 0 {
		t.Fatalf("second submit of the double click: %d to %q, cookies %v; want 303 to /mijn-log and no cookie",
			w.Code, w.Header().Get("Location"), w.Result().Cookies())
	}
	if w := b.get("/account"); w.Code != 200 || b.session() != full {
		t.Fatalf("the login after the double click: %d", w.Code)
	}
	var failures int
	if err := e.db.Pool.QueryRow(context.Background(), `select failures + failed_since_login from accounts where name = 'jan'`).Scan(&failures); err != nil || failures != 0 {
		t.Fatalf("failures counted: %d, %v", failures, err)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	for in, want := range map[string]string{
		"/mijn-log?x=1": "/mijn-log?x=1", "//evil.example": "/account", "https://evil.example/": "/account",
		"/\\evil.example": "/account", "": "/account", "javascript:alert(1)": "/account",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every POST route of the account pages refuses a request without the session's
// token, or with another session's token, and changes nothing.
func TestCSRFRequiredOnEveryForm(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	other := e.browser()
	otherToken := other.csrf(t, "/login")

	var posts []string
	for _, r := range e.s.echo.Routes() {
		if r.Method == http.MethodPost && e.s.kinds[r.Path] == KindBrowser {
			posts = append(posts, r.Path)
		}
	}
	if len(posts) < 6 {
		t.Fatalf("only %d POST routes found: %v", len(posts), posts)
	}
	for _, p := range posts {
		for _, tok := range []string{"", otherToken, "x"} {
			form := url.Values{"name": {"jan"}, "password": {testPassword}, "code": {"123456"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			if w := b.post(p, form); w.Code != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403", p, tok, w.Code)
			}
		}
	}
	if w := b.get("/account"); w.Code != 200 {
		t.Fatalf("session ended by a forged POST: %d", w.Code)
	}
	// Every form on the pages carries the token.
	b.post("/account/enrol", url.Values{"csrf": {b.csrf(t, "/account")}})
	formRE := regexp.MustCompile(`(?s)<form method="post".*?</form>`)
	for _, page := range []string{"/account", "/account/enrol", "/account/password"} {
		body := b.get(page).Body.String()
		forms := formRE.FindAllString(body, -1)
		if len(forms) == 0 {
			t.Errorf("%s: no forms", page)
		}
		for _, f := range forms {
			if !strings.Contains(f, `name="csrf" value="`+account.CSRFToken(b.session())+`"`) {
				t.Errorf("%s: a form lacks the token:\n%s", page, f)
			}
		}
	}
}

// The page after a failed login looks the same whether the name exists, the
// password is wrong or the account is locked.
func TestLoginMessagesDoNotEnumerate(t *testing.T) {
	e := newAccountEnv(t)
	e.user(t, "jan", account.RolePatient)
	e.user(t, "kees", account.RolePatient)
	for i := 0; i < 3; i++ {
		b := e.browser()
		b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"kees"}, "password": {"wrong-password-x"}})
	}
	norm := regexp.MustCompile(`value="[^"]*"`)
	var pages []string
	for _, tc := range []struct{ name, pw string }{{"nobody", testPassword}, {"jan", "wrong-password-x"}, {"kees", testPassword}} {
		b := e.browser()
		w := b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {tc.name}, "password": {tc.pw}})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", tc.name, w.Code)
		}
		pages = append(pages, norm.ReplaceAllString(w.Body.String(), `value=""`))
	}
	if pages[0] != pages[1] || pages[1] != pages[2] {
		t.Fatal("failure pages differ between unknown, wrong password and locked")
	}
	if !strings.Contains(pages[0], `role="alert"`) {
		t.Fatal("no alert on the failure page")
	}
}

func TestLogoutAndLogoutEverywhere(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	a, b, c := e.browser(), e.browser(), e.browser()
	a.login(t, "jan", secret)
	b.login(t, "jan", secret)
	c.login(t, "jan", secret)

	w := a.post("/logout", url.Values{"csrf": {a.csrf(t, "/account")}})
	if w.Code != http.StatusSeeOther || a.session() != "" {
		t.Fatalf("logout: %d, cookie kept %v", w.Code, a.session() != "")
	}
	if w := b.get("/account"); w.Code != 200 {
		t.Fatal("logout ended another device's session")
	}
	w = b.post("/logout/everywhere", url.Values{"csrf": {b.csrf(t, "/account")}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?info=everywhere" {
		t.Fatalf("logout everywhere: %d %s", w.Code, w.Header().Get("Location"))
	}
	if w := c.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("a third device is still logged in: %d", w.Code)
	}
}

func TestIdleTimeoutOnPages(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	e.clock.add(14 * time.Minute)
	if w := b.get("/account"); w.Code != 200 {
		t.Fatalf("active session ended: %d", w.Code)
	}
	e.clock.add(16 * time.Minute)
	if w := b.get("/account"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Fatalf("idle session still valid: %d", w.Code)
	}
}

func TestLoginAttemptsAudited(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {"wrong-password-x"}})
	b.login(t, "jan", secret)
	b.post("/logout", url.Values{"csrf": {b.csrf(t, "/account")}})
	got := map[audit.Action]int{}
	err := auditdb.Scan(context.Background(), e.db.Pool, audit.Filter{}, func(r *audit.Record) error {
		got[r.Action]++
		if r.Action == audit.ActLogin && (r.SourceIP != "192.0.2.1" || r.RequestID == "") {
			t.Errorf("login record without client ip or request id: %+v", r.Event)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[audit.ActLoginFailed] != 1 || got[audit.ActLogin] != 1 || got[audit.ActLogout] != 1 {
		t.Fatalf("audit: %v", got)
	}
}

// A page that needs login sends the browser back to it after both steps.
func TestLoginReturnsToRequestedPage(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "eva", account.RoleAuditor)
	b := e.browser()
	loc := b.get("/audit?action=login").Header().Get("Location")
	if loc != "/login?next=%2Faudit%3Faction%3Dlogin" {
		t.Fatalf("redirect to %q", loc)
	}
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(b.get(loc).Body.String())
	if action == nil || action[1] != "/login?next=%2faudit%3faction%3dlogin" {
		t.Fatalf("login form action %v", action)
	}
	w := b.post("/login?next=%2Faudit%3Faction%3Dlogin", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"eva"}, "password": {testPassword}})
	next := w.Header().Get("Location")
	code := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, code)
	w = b.post(next, url.Values{"csrf": {b.csrf(t, next)}, "code": {code}})
	if w.Header().Get("Location") != "/audit?action=login" {
		t.Fatalf("after login to %q", w.Header().Get("Location"))
	}
}

func TestLoginThrottledPerIP(t *testing.T) {
	cfg := testAccountConfig
	cfg.IPLimit = 2
	e := newAccountEnvConfig(t, cfg)
	e.user(t, "jan", account.RolePatient)
	b := e.browser()
	for i := 0; i < 2; i++ {
		b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {"wrong-password-x"}})
	}
	w := b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "te veel inlogpogingen") {
		t.Fatalf("third attempt from one IP: %d", w.Code)
	}
	other := e.browser()
	other.ip = "192.0.2.99"
	if w := other.post("/login", url.Values{"csrf": {other.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}}); w.Code != http.StatusSeeOther {
		t.Fatalf("another IP throttled: %d", w.Code)
	}
}

// When every password-check slot stays taken, the login page says it is busy
// (429, its own message), not the generic error page (review finding). The one
// slot is held by a first login that the test parks inside its transaction (the
// per-IP counter table is locked), so the second login finds it taken every time.
func TestLoginBusyShowsLoginPage(t *testing.T) {
	cfg := testAccountConfig
	cfg.MaxConcurrentHashes, cfg.HashQueueWait = 1, 5*time.Millisecond
	e := newAccountEnvConfig(t, cfg)
	first, second := e.browser(), e.browser()
	second.ip = "192.0.2.77"
	form := func(b *browser) url.Values {
		return url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"niemand"}, "password": {testPassword}}
	}
	firstForm, secondForm := form(first), form(second)

	ctx := context.Background()
	lock, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	var holder int
	if _, err := lock.Exec(ctx, "lock table login_rate in exclusive mode"); err != nil {
		t.Fatal(err)
	}
	if err := lock.QueryRow(ctx, "select pg_backend_pid()").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- first.post("/login", firstForm) }()
	waitBlockedBy(t, e.db, holder)

	w := second.post("/login", secondForm)
	body := w.Body.String()
	if w.Code != http.StatusTooManyRequests || !strings.Contains(body, web.T(web.NL, "login.busy")) || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("second login while the slot is held: %d, want 429 on the login page with login.busy:\n%s", w.Code, body)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if w := <-done; w.Code != http.StatusUnauthorized {
		t.Fatalf("first login after the lock is gone: %d, want 401", w.Code)
	}
}

// waitBlockedBy waits until some session waits for a lock that backend holder holds.
func waitBlockedBy(t *testing.T, db *store.DB, holder int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.Pool.QueryRow(context.Background(), `select count(*) from pg_stat_activity
			where $1 = any(pg_blocking_pids(pid))`, holder).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the first login never reached the locked table")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// GETs of the login page from a client that keeps its cookie reuse one visitor
// session; a client that drops it gets at most 10 x IPLimit rows per window from
// its network, then 429 (review finding: every GET wrote a row).
func TestLoginPageBoundsVisitorSessions(t *testing.T) {
	cfg := testAccountConfig
	cfg.IPLimit = 5
	e := newAccountEnvConfig(t, cfg)
	rows := func() int {
		var n int
		if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	keeper := e.browser()
	keeper.ip = "192.0.2.200"
	for i := 0; i < 20; i++ {
		if w := keeper.get("/login"); w.Code != http.StatusOK {
			t.Fatalf("GET %d with a cookie: %d", i, w.Code)
		}
	}
	if n := rows(); n != 1 {
		t.Fatalf("20 GETs with the cookie made %d sessions; want 1", n)
	}
	codes := map[int]int{}
	for i := 0; i < 1000; i++ {
		b := e.browser() // no cookie: a new visitor every time
		b.ip = fmt.Sprintf("2001:db8:7:7::%x", i)
		codes[b.get("/login").Code]++
	}
	if n := rows() - 1; n != 10*cfg.IPLimit || codes[http.StatusOK] != n || codes[http.StatusTooManyRequests] != 1000-n {
		t.Fatalf("1000 GETs without a cookie from one /64: %d sessions, answers %v; want %d sessions", n, codes, 10*cfg.IPLimit)
	}
	var audited int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where reason = 'rate_limited_visitor'`).Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("throttled visitors audited %d times (%v); want once per window", audited, err)
	}
	other := e.browser()
	other.ip = "2001:db8:7:8::1"
	if w := other.get("/login"); w.Code != http.StatusOK {
		t.Fatalf("another network: %d", w.Code)
	}
}

// After a login the owner reads how many attempts failed since the previous
// one (issue 15), in their language; the next login says nothing.
func TestAccountPageTellsOfFailedAttempts(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	for i := 0; i < 2; i++ {
		b := e.browser()
		b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {"jan"}, "password": {"wrong-password-x"}})
	}
	b := e.browser()
	b.login(t, "jan", secret)
	for _, l := range web.Langs {
		body := html.UnescapeString(b.get("/account?lang=" + string(l)).Body.String())
		if !strings.Contains(body, web.T(l, "account.failed_before", 2)) {
			t.Errorf("%s: account page does not tell of the 2 failed attempts", l)
		}
	}
	e.clock.add(31 * time.Second) // the next TOTP step
	b2 := e.browser()
	b2.login(t, "jan", secret)
	if body := html.UnescapeString(b2.get("/account").Body.String()); strings.Contains(body, web.T(web.NL, "account.failed_before_help")) {
		t.Error("the next login tells again")
	}
}
