package server

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/web"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// A form over PGO_MAX_BODY_BYTES gets a 413 page that says it was too large, not
// "the form has expired" (issue 13) — with a Content-Length (refused up front) and
// without one (chunked: refused while the CSRF check reads the form).
func TestOversizedFormSaysTooLarge(t *testing.T) {
	e := newAccountEnv(t)
	b := e.browser()
	token := b.csrf(t, "/login")
	big := url.Values{"csrf": {token}, "name": {"jan"}, "password": {strings.Repeat("x", 4096)}}.Encode()
	for _, chunked := range []bool{false, true} {
		for _, l := range web.Langs {
			var r io.Reader = strings.NewReader(big)
			if chunked {
				r = io.MultiReader(r) // hides the length: httptest sends ContentLength -1
			}
			req := httptest.NewRequest(http.MethodPost, "/login?lang="+string(l), r)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: b.session()})
			if chunked {
				req.ContentLength = -1
			}
			w := do(e.s, req)
			page := html.UnescapeString(w.Body.String())
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked=%v %s: status %d; want 413", chunked, l, w.Code)
			}
			if !strings.Contains(page, web.T(l, "error.reason.too_large")) {
				t.Errorf("chunked=%v %s: page lacks the too-large reason", chunked, l)
			}
			if strings.Contains(page, web.T(l, "error.reason.csrf")) {
				t.Errorf("chunked=%v %s: page says the form has expired", chunked, l)
			}
		}
	}
	// A small form without the token is still refused as expired (the negative case).
	w := b.post("/login", url.Values{"name": {"jan"}, "password": {"x"}})
	if w.Code != http.StatusForbidden || !strings.Contains(html.UnescapeString(w.Body.String()), web.T(web.NL, "error.reason.csrf")) {
		t.Errorf("missing token: %d", w.Code)
	}
}

// With no MedMij list configured, /readyz says so instead of reporting the lists
// ready (issue 13); configured lists that fail still fail readiness.
func TestReadyzListsNotConfigured(t *testing.T) {
	none := zal.New(zal.Options{})
	lists := CheckFunc("medmij-lists", func(context.Context) error { return none.Ready(time.Hour) })
	ok := CheckFunc("postgres", func(context.Context) error { return nil })
	s, _ := newTestServer(t, nil, ok, lists)
	w := do(s, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var got struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
	}
	if got.Checks["medmij-lists"] != "not configured" || got.Checks["postgres"] != "ok" {
		t.Errorf("checks %v; want medmij-lists not configured, postgres ok", got.Checks)
	}
	missing := zal.New(zal.Options{Origins: map[zal.Kind]zal.Origin{zal.KindZAL: {File: "/nonexistent/zal.xml"}}})
	broken := CheckFunc("medmij-lists", func(context.Context) error { return missing.Ready(time.Hour) })
	s, _ = newTestServer(t, nil, ok, broken)
	if w := do(s, httptest.NewRequest(http.MethodGet, "/readyz", nil)); w.Code != 503 || !strings.Contains(w.Body.String(), "not ready: medmij-lists") {
		t.Errorf("configured but missing list: %d %s", w.Code, w.Body)
	}
}
