package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
)

func TestErrorHandlerMapsCodes(t *testing.T) {
	secret := errors.New("pq: password authentication failed for user admin at 10.0.0.7")
	tests := []struct {
		err        error
		status     int
		code       string
		wantDetail string
	}{
		{pgo.Errorf(pgo.EINVALID, "field birthDate: not a date"), 400, pgo.EINVALID, "field birthDate: not a date"},
		{pgo.Errorf(pgo.ENOTFOUND, "No such document."), 404, pgo.ENOTFOUND, "No such document."},
		{pgo.Wrap(pgo.ECONFLICT, secret, "Already consented."), 409, pgo.ECONFLICT, "Already consented."},
		{pgo.Errorf(pgo.EUNAUTHORIZED, "Log in."), 401, pgo.EUNAUTHORIZED, "Log in."},
		{pgo.Errorf(pgo.EFORBIDDEN, "Not yours."), 403, pgo.EFORBIDDEN, "Not yours."},
		{pgo.Errorf(pgo.ETOOLARGE, "Too big."), 413, pgo.ETOOLARGE, "Too big."},
		{pgo.Errorf(pgo.ERATELIMIT, "Slow down."), 429, pgo.ERATELIMIT, "Slow down."},
		{pgo.Wrap(pgo.EUNAVAILABLE, secret, "Database down."), 503, pgo.EUNAVAILABLE, "Database down."},
		{pgo.Wrap(pgo.EINTERNAL, secret, "should not show"), 500, pgo.EINTERNAL, ""},
		{pgo.Errorf("made_up_code", "odd"), 500, pgo.EINTERNAL, ""},
		{secret, 500, pgo.EINTERNAL, ""},
		{fmt.Errorf("wrapped: %w", pgo.Errorf(pgo.ENOTFOUND, "Gone.")), 404, pgo.ENOTFOUND, "Gone."},
		{echo.NewHTTPError(http.StatusBadRequest, "x").SetInternal(secret), 400, pgo.EINVALID, "Bad Request"},
		{echo.NewHTTPError(http.StatusUnsupportedMediaType, "y"), 415, "other", "Unsupported Media Type"},
		{echo.NewHTTPError(http.StatusBadGateway, "z").SetInternal(secret), 502, "other", ""},
		{&http.MaxBytesError{Limit: 10}, 413, pgo.ETOOLARGE, "The request body is too large."},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i, "_", tt.code), func(t *testing.T) {
			s, logs := newTestServer(t, nil)
			s.group(KindBrowser).GET("/test/page", func(echo.Context) error { return tt.err })
			s.group(KindOps).GET("/test/ops", func(echo.Context) error { return tt.err })
			// Non-browser route: problem+json (RFC 9457).
			req := httptest.NewRequest(http.MethodGet, "/test/ops", nil)
			req.Header.Set("X-Request-Id", "rid-1")
			w := do(s, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p problem
			raw := body(t, w)
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.status || p.Code != tt.code || p.Type != ProblemTypeBase+tt.code ||
				p.RequestID != "rid-1" || p.Instance != "/test/ops" || p.Title != http.StatusText(tt.status) {
				t.Errorf("problem = %+v", p)
			}
			if tt.wantDetail != "" && p.Detail != tt.wantDetail {
				t.Errorf("detail %q, want %q", p.Detail, tt.wantDetail)
			}
			// Browser route: HTML page with the request id.
			req = httptest.NewRequest(http.MethodGet, "/test/page", nil)
			req.Header.Set("X-Request-Id", "rid-2")
			w = do(s, req)
			page := body(t, w)
			if w.Code != tt.status || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
				!strings.Contains(page, "rid-2") || !strings.Contains(page, `<html lang="nl">`) {
				t.Errorf("page: status %d, type %q, body %s", w.Code, w.Header().Get("Content-Type"), page)
			}
			for _, out := range []string{raw, page} {
				if strings.Contains(out, "password authentication") || strings.Contains(out, "10.0.0.7") ||
					strings.Contains(out, "should not show") {
					t.Errorf("response leaks internal detail: %s", out)
				}
			}
			if tt.status >= 500 && errors.Is(tt.err, secret) && !strings.Contains(logs.String(), "password authentication") {
				t.Errorf("internal detail should be in the log: %s", logs.String())
			}
		})
	}
}

func TestErrorPageLanguage(t *testing.T) {
	s, _ := newTestServer(t, nil)
	tests := []struct {
		target, accept, want, wantText string
	}{
		{"/nope", "text/html", `<html lang="nl">`, "Pagina niet gevonden"},
		{"/nope?lang=en", "text/html", `<html lang="en">`, "Page not found"},
		{"/nope", "text/html, */*;q=0.1", `<html lang="nl">`, "Pagina niet gevonden"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		req.Header.Set("Accept", tt.accept)
		w := do(s, req)
		b := body(t, w)
		if w.Code != 404 || !strings.Contains(b, tt.want) || !strings.Contains(b, tt.wantText) {
			t.Errorf("%s: %d %s", tt.target, w.Code, b)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9,nl;q=0.5")
	if b := body(t, do(s, req)); !strings.Contains(b, `<html lang="en">`) {
		t.Errorf("Accept-Language en: %s", b)
	}
	// Unknown path without an HTML Accept: problem+json.
	w := do(s, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown path for an API client: %q", w.Header().Get("Content-Type"))
	}
	// 405 carries Allow.
	w = do(s, httptest.NewRequest(http.MethodDelete, "/healthz", nil))
	if w.Code != 405 || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("405: %d Allow=%q", w.Code, w.Header().Get("Allow"))
	}
}

// oauthErr stands in for the OAuth error type of a later issue.
type oauthErr struct{ redirect bool }

func (e oauthErr) Error() string { return "invalid_grant" }
func (e oauthErr) Respond(w http.ResponseWriter, r *http.Request) bool {
	if !e.redirect {
		return false
	}
	http.Redirect(w, r, "https://client.example/cb?error=access_denied", http.StatusFound)
	return true
}

func TestResponderHook(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.group(KindBrowser).GET("/test/redirect", func(echo.Context) error { return oauthErr{redirect: true} })
	s.group(KindBrowser).GET("/test/fallback", func(echo.Context) error { return oauthErr{} })
	if w := do(s, httptest.NewRequest(http.MethodGet, "/test/redirect", nil)); w.Code != http.StatusFound {
		t.Errorf("responder: status %d", w.Code)
	}
	if w := do(s, httptest.NewRequest(http.MethodGet, "/test/fallback", nil)); w.Code != 500 {
		t.Errorf("declined responder: status %d, want the generic 500", w.Code)
	}
}

func TestHeadErrorHasNoBody(t *testing.T) {
	s, _ := newTestServer(t, nil)
	w := do(s, httptest.NewRequest(http.MethodHead, "/peer/ping", nil))
	if w.Code != 401 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", w.Code, w.Body.Len())
	}
}

func TestLanguageCookie(t *testing.T) {
	s, _ := newTestServer(t, nil)
	w := do(s, httptest.NewRequest(http.MethodGet, "/?lang=en", nil))
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "__Host-pgo-lang" {
			ck = c
		}
	}
	if ck == nil || ck.Value != "en" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("language cookie %+v", ck)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(ck)
	req.Header.Set("Accept-Language", "nl")
	if b := body(t, do(s, req)); !strings.Contains(b, `<html lang="en">`) {
		t.Errorf("cookie not honoured: %s", b)
	}
	for _, bad := range []string{"/?lang=de", "/?lang=english"} {
		w := do(s, httptest.NewRequest(http.MethodGet, bad, nil))
		if len(w.Result().Cookies()) != 0 {
			t.Errorf("%s set a cookie", bad)
		}
	}
}
