package consent

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
)

// An OAuth error answers in the one way its situation allows: back to a verified
// redirect_uri with error, state and iss; as JSON (401 for invalid_client, never
// cached); or not at all, leaving the error page to the server.
func TestOAuthErrorRespond(t *testing.T) {
	cb, _ := url.Parse("https://zuid.localhost/cb?keep=1")
	w := httptest.NewRecorder()
	(&OAuthError{Code: "invalid_scope", Description: "d", State: "s-1", Issuer: "https://noord", Redirect: cb}).Respond(w, nil)
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	if w.Code != 303 || q.Get("error") != "invalid_scope" || q.Get("state") != "s-1" || q.Get("iss") != "https://noord" || q.Get("keep") != "1" {
		t.Errorf("redirect %d %s", w.Code, loc)
	}
	w = httptest.NewRecorder()
	(&OAuthError{Code: "invalid_client", Description: "no certificate", JSON: true}).Respond(w, nil)
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 401 || m["error"] != "invalid_client" ||
		w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("json %d %s %v", w.Code, w.Body, w.Header())
	}
	w = httptest.NewRecorder()
	page := &OAuthError{Code: "invalid_request", Err: errUnknownClient}
	if page.Respond(w, nil) || w.Body.Len() != 0 || pgo.ErrorReason(page) != "consent.error.unknown_client" {
		t.Error("an unverified client must get the error page, never a redirect")
	}
}

// fosite's own error names become registered RFC 6749 codes; server errors keep
// their detail for the log only.
func TestFromFosite(t *testing.T) {
	if e := fromFosite(fosite.ErrInvalidState.WithHint("short")); e.Code != "invalid_request" {
		t.Errorf("invalid_state -> %s", e.Code)
	}
	if e := fromFosite(fosite.ErrInvalidGrant); e.Code != "invalid_grant" {
		t.Errorf("invalid_grant -> %s", e.Code)
	}
	e := fromFosite(fosite.ErrServerError.WithDebug("db down"))
	if e.Code != "server_error" || e.Description != "The request could not be processed." || pgo.ErrorCode(e.Err) != pgo.EINTERNAL {
		t.Errorf("server error %+v", e)
	}
}

// A grant is live while active and before its end; the page shows it expired
// after that without anyone writing the row.
func TestGrantStateAt(t *testing.T) {
	now := time.Now()
	g := Grant{State: StateActive, Expires: now.Add(time.Minute)}
	if !g.Live(now) || g.StateAt(now.Add(time.Minute)) != StateExpired {
		t.Error("active grant")
	}
	g.State = StateWithdrawn
	if g.Live(now) || g.StateAt(now) != StateWithdrawn {
		t.Error("withdrawn grant")
	}
}

// Only a host name reaches the audit log as client id.
func TestSafeClientID(t *testing.T) {
	for in, want := range map[string]string{"zuid.localhost": "zuid.localhost", "": "none", "a b": "invalid",
		"x\ny": "invalid", "https://evil/": "invalid"} {
		if got := safeClientID(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// New bounds the lifetimes (code at most 10 minutes, token and consent at most
// 15), trims the issuer's trailing slash and refuses to run without its parts.
func TestNewBoundsLifetimes(t *testing.T) {
	d := Deps{Store: nilStore{}, Lists: nilLists{}, Dossier: nilDossier{}, Exports: nilExports{}, Signer: nilSigner{}}
	svc, err := New(Config{Issuer: "https://noord/", ProviderName: "noord", CodeTTL: time.Hour, TokenTTL: time.Hour}, d)
	if err != nil {
		t.Fatal(err)
	}
	if svc.cfg.CodeTTL != 10*time.Minute || svc.cfg.TokenTTL != 15*time.Minute || svc.cfg.ConsentTTL != 15*time.Minute ||
		svc.Issuer() != "https://noord" || svc.Audience() != "https://noord/51/fhir" || svc.Scope() != "noord~51" {
		t.Errorf("config %+v", svc.cfg)
	}
	if _, err := New(Config{Issuer: "https://noord", ProviderName: "noord"}, Deps{Store: nilStore{}}); err == nil {
		t.Error("New without its parts must fail")
	}
	if _, err := New(Config{ProviderName: "noord"}, d); err == nil {
		t.Error("New without an issuer must fail")
	}
}

// Placeholders that only fill Deps; New calls none of them.
type (
	nilStore   struct{ Store }
	nilLists   struct{ Lists }
	nilDossier struct{ Dossier }
	nilExports struct{ Exports }
	nilSigner  struct{ Signer }
)
