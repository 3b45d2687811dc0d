package server

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/web"
)

const newTestPassword = "een-ander-lang-wachtwoord"

// passwordForm is the change form with the browser's token.
func (b *browser) passwordForm(t *testing.T, current, next, repeat string) url.Values {
	t.Helper()
	return url.Values{"csrf": {b.csrf(t, "/account/password")}, "current_password": {current},
		"new_password": {next}, "repeat_password": {repeat}}
}

// passwordLogin reports whether name logs in with password (the password step).
func (e *accountEnv) passwordLogin(t *testing.T, name, password string) bool {
	t.Helper()
	b := e.browser()
	b.ip = "198.51.100.9" // a source of its own: failures here delay nobody else
	w := b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {name}, "password": {password}})
	return w.Code == http.StatusSeeOther
}

// The page is behind a full two-factor login, and its POST behind the CSRF
// token too; neither way in changes the password.
func TestPasswordPageNeedsLoginAndToken(t *testing.T) {
	e := newAccountEnv(t)
	e.secrets = append(e.secrets, newTestPassword)
	secret := e.user(t, "jan", account.RolePatient)
	anon := e.browser()
	if w := anon.get("/account/password"); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/login?next="+url.QueryEscape("/account/password") {
		t.Fatalf("anonymous GET: %d %s", w.Code, w.Header().Get("Location"))
	}
	form := url.Values{"csrf": {anon.csrf(t, "/login")}, "current_password": {testPassword},
		"new_password": {newTestPassword}, "repeat_password": {newTestPassword}}
	if w := anon.post("/account/password", form); w.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous POST: %d", w.Code)
	}
	half := e.browser()
	half.post("/login", url.Values{"csrf": {half.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	if w := half.get("/account/password"); w.Code != http.StatusSeeOther {
		t.Fatalf("GET after the password step only: %d", w.Code)
	}

	b := e.browser()
	b.login(t, "jan", secret)
	other := e.browser()
	otherToken := other.csrf(t, "/login")
	for _, tok := range []string{"", otherToken, "x"} {
		form := url.Values{"current_password": {testPassword}, "new_password": {newTestPassword}, "repeat_password": {newTestPassword}}
		if tok != "" {
			form.Set("csrf", tok)
		}
		if w := b.post("/account/password", form); w.Code != http.StatusForbidden {
			t.Errorf("POST with token %q: %d, want 403", tok, w.Code)
		}
	}
	if !e.passwordLogin(t, "jan", testPassword) || e.passwordLogin(t, "jan", newTestPassword) {
		t.Fatal("the password changed without a valid token")
	}
}

// The form: labelled fields with the autocomplete hints password managers
// need, reached from the account page.
func TestPasswordPageForm(t *testing.T) {
	e := newAccountEnv(t)
	b := e.browser()
	b.login(t, "jan", e.user(t, "jan", account.RolePatient))
	if body := b.get("/account").Body.String(); !strings.Contains(body, `href="/account/password"`) {
		t.Fatal("the account page does not link to the password page")
	}
	w := b.get("/account/password")
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("GET: %d", w.Code)
	}
	for _, want := range []string{
		`<form method="post" action="/account/password"`,
		`name="csrf" value="` + account.CSRFToken(b.session()) + `"`,
		`<label for="current_password">`, `id="current_password" name="current_password" type="password" autocomplete="current-password"`,
		`<label for="new_password">`, `id="new_password" name="new_password" type="password" autocomplete="new-password"`,
		`aria-describedby="new_password-help"`,
		`<label for="repeat_password">`, `id="repeat_password" name="repeat_password" type="password" autocomplete="new-password"`,
		"<h1>Wachtwoord wijzigen</h1>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// Each refusal shows the form again with its message at its field (tied to the
// input with aria-describedby, listed in the summary), in Dutch and, after the
// language switch, in English; the passwords are never echoed, and nothing
// changes.
func TestPasswordPageRefusals(t *testing.T) {
	e := newAccountEnv(t)
	const wrong = "niet-het-goede-wachtwoord"
	e.secrets = append(e.secrets, newTestPassword, wrong)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	for _, l := range web.Langs {
		if l == web.EN {
			b.get("/account/password?lang=en") // the switch; a cookie keeps it
		}
		for _, tc := range []struct {
			current, next, repeat string
			status                int
			field, key            string
		}{
			{"", newTestPassword, newTestPassword, http.StatusBadRequest, "current_password", "password.current_missing"},
			{wrong, newTestPassword, newTestPassword, http.StatusBadRequest, "current_password", "password.current_wrong"},
			{testPassword, "te-kort", "te-kort", http.StatusBadRequest, "new_password", "password.too_short"},
			{testPassword, newTestPassword, newTestPassword + "x", http.StatusBadRequest, "repeat_password", "password.mismatch"},
			{testPassword, testPassword, testPassword, http.StatusBadRequest, "new_password", "password.same"},
		} {
			w := b.post("/account/password", b.passwordForm(t, tc.current, tc.next, tc.repeat))
			body := w.Body.String()
			msg := html.EscapeString(web.T(l, tc.key))
			if w.Code != tc.status {
				t.Errorf("%s %s: %d, want %d", l, tc.key, w.Code, tc.status)
			}
			if !regexp.MustCompile(`<p class="field-error" id="` + tc.field + `-error">` + regexp.QuoteMeta(msg) + `</p>`).MatchString(body) {
				t.Errorf("%s %s: no message %q at the field\n%s", l, tc.key, msg, body)
			}
			if !regexp.MustCompile(`<input id="` + tc.field + `"[^>]*aria-describedby="[^"]*` + tc.field + `-error"[^>]*aria-invalid="true"|<input id="` +
				tc.field + `"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*` + tc.field + `-error"`).MatchString(body) {
				t.Errorf("%s %s: the input is not tied to its message", l, tc.key)
			}
			if !strings.Contains(body, `<a href="#`+tc.field+`">`+msg+`</a>`) || !strings.Contains(body, `lang="`+string(l)+`"`) {
				t.Errorf("%s %s: no summary linking to the field, or not in %s", l, tc.key, l)
			}
			for _, p := range []string{tc.current, tc.next, tc.repeat} {
				if len(p) > 3 && strings.Contains(body, p) {
					t.Errorf("%s %s: the page echoes a password", l, tc.key)
				}
			}
		}
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("a refusal ended the session: %d", w.Code)
	}
	if !e.passwordLogin(t, "jan", testPassword) || e.passwordLogin(t, "jan", newTestPassword) {
		t.Fatal("a refusal changed the password")
	}
	reasons := map[string]bool{}
	err := auditdb.Scan(context.Background(), e.db.Pool, audit.Filter{}, func(r *audit.Record) error {
		if r.Action == audit.ActPasswordChanged {
			if r.Outcome != audit.Failure || r.SourceIP != "192.0.2.1" || r.RequestID == "" {
				t.Errorf("record %+v", r.Event)
			}
			reasons[r.Reason] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"current_missing", "bad_password", "too_short", "mismatch", "same_as_current"} {
		if !reasons[want] {
			t.Errorf("no password_changed:%s record (%v)", want, reasons)
		}
	}
}

// A change ends the other devices' sessions, keeps this device logged in under a
// new session id, and says so; afterwards only the new password logs in.
func TestPasswordPageChanges(t *testing.T) {
	e := newAccountEnv(t)
	e.secrets = append(e.secrets, newTestPassword)
	secret := e.user(t, "jan", account.RolePatient)
	b, other := e.browser(), e.browser()
	b.login(t, "jan", secret)
	other.login(t, "jan", secret)
	before := b.session()
	w := b.post("/account/password", b.passwordForm(t, testPassword, newTestPassword, newTestPassword))
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "Uw wachtwoord is gewijzigd.") || !strings.Contains(body, `role="status"`) {
		t.Fatalf("change: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, `action="/account/password"`) {
		t.Error("the confirmation shows the form again")
	}
	if b.session() == "" || b.session() == before {
		t.Fatal("the session id was not rotated")
	}
	if !strings.Contains(body, `name="csrf" value="`+account.CSRFToken(b.session())+`"`) {
		t.Error("the confirmation's forms carry the old session's token")
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("this device was logged out: %d", w.Code)
	}
	if w := other.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("the other device is still logged in: %d", w.Code)
	}
	if e.passwordLogin(t, "jan", testPassword) || !e.passwordLogin(t, "jan", newTestPassword) {
		t.Fatal("after the change the old password logs in, or the new one does not")
	}
	en := e.browser()
	en.get("/?lang=en")
	en.loginWith(t, "jan", newTestPassword, secret)
	w = en.post("/account/password", en.passwordForm(t, newTestPassword, testPassword, testPassword))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Your password has been changed.") {
		t.Fatalf("change in English: %d\n%s", w.Code, w.Body)
	}
}

// loginWith runs both login steps with password.
func (b *browser) loginWith(t *testing.T, name, password string, secret []byte) {
	t.Helper()
	w := b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {name}, "password": {password}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("password step: %d", w.Code)
	}
	code := account.TOTPCode(secret, account.TOTPStep(b.e.clock.now()))
	b.e.secrets = append(b.e.secrets, code)
	if w := b.post("/login/code", url.Values{"csrf": {b.csrf(t, "/login/code")}, "code": {code}}); w.Code != http.StatusSeeOther {
		t.Fatalf("code step: %d", w.Code)
	}
	b.e.clock.add(30 * time.Second)
}
