package server

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
)

func TestEnrolmentPages(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)

	if w := b.get("/account/enrol/qr.png"); w.Code != http.StatusNotFound {
		t.Fatalf("QR before an enrolment started: %d", w.Code)
	}
	other := e.browser() // the same person on another device
	other.login(t, "jan", secret)
	for _, bad := range []string{"", "000000"} {
		w := b.post("/account/enrol", url.Values{"csrf": {b.csrf(t, "/account/enrol")}, "current_code": {bad}})
		if body := w.Body.String(); w.Code != http.StatusBadRequest || !strings.Contains(body, `href="#current_code"`) ||
			!strings.Contains(body, `aria-invalid="true"`) {
			t.Fatalf("begin with current code %q: %d\n%s", bad, w.Code, body)
		}
	}
	current := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, current)
	w := b.post("/account/enrol", url.Values{"csrf": {b.csrf(t, "/account/enrol")}, "current_code": {current}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("begin: %d", w.Code)
	}
	page := b.get("/account/enrol").Body.String()
	m := regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `src="/account/enrol/qr.png"`) || !strings.Contains(page, `alt="`) {
		t.Fatalf("enrolment page:\n%s", page)
	}
	e.secrets = append(e.secrets, m[1])
	w = b.get("/account/enrol/qr.png")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("QR: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
	}
	if _, err := png.Decode(bytes.NewReader(w.Body.Bytes())); err != nil {
		t.Fatal(err)
	}
	newSecret, _ := acctB32.DecodeString(m[1])
	if w := b.post("/account/enrol/confirm", url.Values{"csrf": {b.csrf(t, "/account/enrol")}, "code": {"000000"}}); w.Code != http.StatusBadRequest ||
		!strings.Contains(w.Body.String(), `role="alert"`) {
		t.Fatalf("wrong code: %d", w.Code)
	}
	code := account.TOTPCode(newSecret, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, code)
	w = b.post("/account/enrol/confirm", url.Values{"csrf": {b.csrf(t, "/account/enrol")}, "code": {code}})
	codes := regexp.MustCompile(`<li><code>([A-Z0-9-]{11})</code></li>`).FindAllStringSubmatch(w.Body.String(), -1)
	if w.Code != 200 || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d codes", w.Code, len(codes))
	}
	for _, c := range codes {
		e.secrets = append(e.secrets, c[1])
	}
	if !strings.Contains(w.Body.String(), "andere apparaten") {
		t.Fatalf("the codes page does not say the other devices were logged out:\n%s", w.Body)
	}
	if w := other.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("the other device's session survived the new authenticator: %d", w.Code)
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Fatalf("this session ended: %d", w.Code)
	}
	// The new app logs in; the old one no longer does.
	e.clock.add(time.Minute)
	b2 := e.browser()
	b2.post("/login", url.Values{"csrf": {b2.csrf(t, "/login")}, "name": {"jan"}, "password": {testPassword}})
	old := account.TOTPCode(secret, account.TOTPStep(e.clock.now()))
	if w := b2.post("/login/code", url.Values{"csrf": {b2.csrf(t, "/login/code")}, "code": {old}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("old app still logs in: %d", w.Code)
	}
	e.browser().login(t, "jan", newSecret)
}

// Too many wrong current codes lock the account; the page then asks to log in.
func TestEnrolmentWrongCurrentCodesEndSession(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	var w *httptest.ResponseRecorder
	for i := 0; i < testAccountConfig.MaxFailures; i++ {
		w = b.post("/account/enrol", url.Values{"csrf": {b.csrf(t, "/account/enrol")}, "current_code": {"000000"}})
	}
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `action="/login"`) {
		t.Fatalf("after %d wrong codes: %d\n%s", testAccountConfig.MaxFailures, w.Code, w.Body)
	}
	if w := b.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("session survived the lockout: %d", w.Code)
	}
}

func TestAbsoluteTimeoutOnPages(t *testing.T) {
	e := newAccountEnv(t)
	secret := e.user(t, "jan", account.RolePatient)
	b := e.browser()
	b.login(t, "jan", secret)
	for i := 0; i < 47; i++ { // active every 10 minutes, for 7h50m
		e.clock.add(10 * time.Minute)
		if w := b.get("/account"); w.Code != 200 {
			t.Fatalf("active session ended after %d minutes: %d", (i+1)*10, w.Code)
		}
	}
	e.clock.add(10 * time.Minute)
	if w := b.get("/account"); w.Code != http.StatusSeeOther {
		t.Fatalf("session past 8 hours still valid: %d", w.Code)
	}
}
