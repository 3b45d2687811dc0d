package server

import (
	"bytes"
	"image/png"
	"net/http"
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
	w := b.post("/account/enrol", url.Values{"csrf": {b.csrf(t, "/account/enrol")}})
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
