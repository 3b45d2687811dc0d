package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/web"
)

// The browser-surface attacks of TestAbuse (abuse_test.go).

// countAudit counts the audit records of action about person (any person: "").
func countAudit(t *testing.T, e *accountEnv, a audit.Action, person, reason string) int {
	t.Helper()
	n := 0
	err := auditdb.Scan(context.Background(), e.db.Pool, audit.Filter{Actions: []audit.Action{a}, PersonID: person},
		func(r *audit.Record) error {
			if reason == "" || r.Reason == reason {
				n++
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// accountID is the id of the account called name.
func accountID(t *testing.T, e *accountEnv, name string) string {
	t.Helper()
	list, err := e.svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Name == name {
			return a.ID
		}
	}
	t.Fatalf("no account %s", name)
	return ""
}

// passwordStep posts name's password; the browser is then half logged in.
func passwordStep(t *testing.T, b *browser, name string) {
	t.Helper()
	w := b.post("/login", form("csrf", b.csrf(t, "/login"), "name", name, "password", testPassword))
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login/code") {
		t.Fatalf("password step: %d %q", w.Code, w.Header().Get("Location"))
	}
}

// loggedOut reports whether a browser holding session id is treated as not
// logged in (a page behind login sends it to the login page).
func loggedOut(e *accountEnv, id string) bool {
	o := e.browser()
	o.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: id}
	w := o.get("/account")
	return w.Code == http.StatusSeeOther && strings.HasPrefix(w.Header().Get("Location"), "/login")
}

// TOTP replay: the code that just logged a user in is refused when it is typed
// again within its validity window (another browser, the same code), and so is
// the code of the previous step; the refusal is the code page's 401, an audited
// mfa_failed (totp_replayed for the code just used, which counts towards no
// lockout; bad_code for the older one), and no logged-in session. Control: the
// first use succeeds.
func abuseTOTPReplay(t *testing.T, e *abuseEnv) {
	_, seed := e.createUser(t, "tom", account.RolePatient)
	id := accountID(t, e.accountEnv, "tom")
	step := account.TOTPStep(e.clock.now())
	code, prev := account.TOTPCode(seed, step), account.TOTPCode(seed, step-1)
	e.secrets = append(e.secrets, code, prev)
	first := e.browser()
	passwordStep(t, first, "tom")
	if w := first.post("/login/code", form("csrf", first.csrf(t, "/login/code"), "code", code)); w.Code != http.StatusSeeOther {
		t.Fatalf("control: first use of the code: %d", w.Code)
	}
	for _, c := range []struct{ name, code, reason string }{
		{"same code", code, "totp_replayed"}, {"previous step's code", prev, "bad_code"},
	} {
		b := e.browser()
		passwordStep(t, b, "tom")
		before := countAudit(t, e.accountEnv, audit.ActMFAFailed, id, c.reason)
		w := b.post("/login/code", form("csrf", b.csrf(t, "/login/code"), "code", c.code))
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), htmlText(web.T(web.NL, "login.code.wrong"))) {
			t.Errorf("%s replayed: %d, want 401 with the wrong-code message", c.name, w.Code)
		}
		if !loggedOut(e.accountEnv, b.session()) {
			t.Errorf("%s replayed: the browser is logged in", c.name)
		}
		if countAudit(t, e.accountEnv, audit.ActMFAFailed, id, c.reason) != before+1 {
			t.Errorf("%s replayed: no mfa_failed:%s record", c.name, c.reason)
		}
	}
	e.clock.add(30 * time.Second)
}

// TOTP replay, racing: two half-logged-in browsers send the same fresh code at
// the same moment; exactly one is let in (the account row is locked while the
// code's step is checked and stored).
func abuseTOTPReplayConcurrent(t *testing.T, e *abuseEnv) {
	_, seed := e.createUser(t, "tim", account.RolePatient)
	bs := []*browser{e.browser(), e.browser(), e.browser()}
	tokens := make([]string, len(bs))
	for i, b := range bs {
		passwordStep(t, b, "tim")
		tokens[i] = b.csrf(t, "/login/code")
	}
	code := account.TOTPCode(seed, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, code)
	codes := make([]int, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/login/code", strings.NewReader(form("csrf", tokens[i], "code", code).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: b.session()})
			codes[i] = do(e.s, req).Code
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusSeeOther {
			ok++
		} else if c != http.StatusUnauthorized {
			t.Errorf("a racing use of the code: %d", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing uses of one code were let in (%v), want exactly 1", ok, len(bs), codes)
	}
	e.clock.add(30 * time.Second)
}

// Session fixation: a session id the attacker planted before the login (one the
// server issued to the attacker, or one the attacker made up) is never the one
// the victim is logged in with, and the planted id is not logged in afterwards.
func abuseSessionFixation(t *testing.T, e *abuseEnv) {
	_, seed := e.createUser(t, "vera", account.RolePatient)
	attacker := e.browser()
	attacker.get("/login")
	planted := attacker.session()
	if planted == "" {
		t.Fatal("the login page set no visitor session")
	}
	for _, p := range []struct{ name, id string }{{"issued to the attacker", planted}, {"made up", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}} {
		v := e.browser()
		v.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: p.id}
		v.get("/login")
		if p.name == "made up" && v.session() == p.id {
			t.Errorf("%s: the server adopted a session id it never issued", p.name)
		}
		passwordStep(t, v, "vera")
		mfa := v.session()
		code := account.TOTPCode(seed, account.TOTPStep(e.clock.now()))
		e.secrets = append(e.secrets, code)
		if w := v.post("/login/code", form("csrf", v.csrf(t, "/login/code"), "code", code)); w.Code != http.StatusSeeOther {
			t.Fatalf("%s: login: %d", p.name, w.Code)
		}
		e.clock.add(30 * time.Second)
		full := v.session()
		if full == p.id || full == mfa || mfa == p.id {
			t.Errorf("%s: the session id did not change at each login step", p.name)
		}
		if loggedOut(e.accountEnv, full) {
			t.Errorf("%s: control: the victim's new session is not logged in", p.name)
		}
		for _, old := range []string{p.id, mfa} {
			if !loggedOut(e.accountEnv, old) {
				t.Errorf("%s: a pre-login session id is logged in", p.name)
			}
		}
	}
	ck := attacker.cookies[sessionCookie]
	if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || !ck.HttpOnly || ck.Domain != "" || ck.Path != "/" {
		t.Errorf("session cookie %+v: a sibling host could plant one (want __Host-, Secure, HttpOnly, Path=/)", ck)
	}
}

// Logout ends the session on the server: the old cookie value, replayed, is not
// logged in. "Logout everywhere" ends the account's other sessions too. Both
// are audited.
func abuseLogout(t *testing.T, e *abuseEnv) {
	_, seed := e.createUser(t, "wim", account.RolePatient)
	id := accountID(t, e.accountEnv, "wim")
	a, b, c := e.browser(), e.browser(), e.browser()
	for _, x := range []*browser{a, b, c} {
		x.login(t, "wim", seed)
	}
	sa, sb, sc := a.session(), b.session(), c.session()
	before := countAudit(t, e.accountEnv, audit.ActLogout, id, "")
	w := a.post("/logout", form("csrf", account.CSRFToken(sa)))
	if w.Code != http.StatusSeeOther || a.session() != "" {
		t.Fatalf("logout: %d, cookie kept %v", w.Code, a.session() != "")
	}
	if !loggedOut(e.accountEnv, sa) {
		t.Error("the logged-out session id still works when replayed")
	}
	if loggedOut(e.accountEnv, sb) || loggedOut(e.accountEnv, sc) {
		t.Fatal("control: logout ended the account's other sessions")
	}
	if w := b.post("/logout/everywhere", form("csrf", account.CSRFToken(sb))); w.Code != http.StatusSeeOther {
		t.Fatalf("logout everywhere: %d", w.Code)
	}
	if !loggedOut(e.accountEnv, sb) || !loggedOut(e.accountEnv, sc) {
		t.Error("after logout everywhere another session of the account still works")
	}
	if n := countAudit(t, e.accountEnv, audit.ActLogout, id, ""); n < before+2 {
		t.Errorf("%d new logout records, want 2", n-before)
	}
}
