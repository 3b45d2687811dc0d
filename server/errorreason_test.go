package server

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/web"
)

// Every error code's page says in the reader's language what happened, and for
// the known errors why (review finding: the reason was English-only). An
// unknown error's English message is not shown on the Dutch page.
func TestErrorPageReasonPerCode(t *testing.T) {
	s, _ := newTestServer(t, nil)
	tests := []struct {
		err    error
		status int
		code   string
		reason string // translation key; "" : none
	}{
		{errCSRF, http.StatusForbidden, "forbidden", "error.reason.csrf"},
		{errRole, http.StatusForbidden, "forbidden", "error.reason.role"},
		{account.ErrNoSession, http.StatusUnauthorized, "unauthorized", "error.reason.no_session"},
		{account.ErrLoginFailed, http.StatusUnauthorized, "unauthorized", "login.failed"},
		{account.ErrOIDCFailed, http.StatusUnauthorized, "unauthorized", "login.oidc_failed"},
		{account.ErrTooManyAttempts, http.StatusTooManyRequests, "rate_limited", "login.rate_limited"},
		{account.ErrBusy, http.StatusTooManyRequests, "rate_limited", "login.busy"},
		{account.ErrNoPendingEnrolment, http.StatusConflict, "conflict", "error.reason.no_enrolment"},
		{account.ErrNoAuthenticatorHere, http.StatusConflict, "conflict", "error.reason.oidc_account"},
		{pgo.Errorf(pgo.ECONFLICT, "The export is already running."), http.StatusConflict, "conflict", ""},
		{pgo.Errorf(pgo.EINVALID, "from: not a date"), http.StatusBadRequest, "invalid", ""},
		{pgo.Errorf(pgo.ENOTFOUND, "No such document."), http.StatusNotFound, "not_found", ""},
		{pgo.Errorf(pgo.ETOOLARGE, "Too big."), http.StatusRequestEntityTooLarge, "too_large", ""},
		{pgo.Errorf(pgo.EUNAVAILABLE, "Down."), http.StatusServiceUnavailable, "unavailable", ""},
		{pgo.Errorf(pgo.EINTERNAL, "secret internals"), http.StatusInternalServerError, "internal", ""},
	}
	for i, tt := range tests {
		path := "/test/reason/" + string(rune('a'+i))
		s.group(KindBrowser).GET(path, func(echo.Context) error { return tt.err })
		for _, l := range web.Langs {
			req := httptest.NewRequest(http.MethodGet, path+"?lang="+string(l), nil)
			req.Header.Set("Accept", "text/html")
			w := do(s, req)
			b := html.UnescapeString(w.Body.String())
			if w.Code != tt.status {
				t.Errorf("%v (%s): status %d; want %d", tt.err, l, w.Code, tt.status)
			}
			for _, key := range []string{"error." + tt.code + ".title", "error." + tt.code + ".text", tt.reason} {
				if key != "" && !strings.Contains(b, web.T(l, key)) {
					t.Errorf("%v (%s): page lacks %s %q", tt.err, l, key, web.T(l, key))
				}
			}
			msg := pgo.ErrorMessage(tt.err)
			if (l == web.NL || tt.code == "internal") && tt.reason == "" && strings.Contains(b, msg) {
				t.Errorf("%v (%s): the English message is shown", tt.err, l)
			}
		}
	}
}

// A reason travels on the error: a wrapped *pgo.Error keeps its key, an internal
// error never shows one.
func TestErrorReasonTravelsOnTheError(t *testing.T) {
	inner := pgo.NewError(pgo.ECONFLICT, "error.reason.csrf", "x")
	if got := reasonKey(pgo.Wrap(pgo.ECONFLICT, inner, "outer")); got != "error.reason.csrf" {
		t.Errorf("wrapped: reason %q; want error.reason.csrf", got)
	}
	if got := reasonKey(pgo.Wrap(pgo.EINTERNAL, inner, "outer")); got != "" {
		t.Errorf("internal: reason %q; want none", got)
	}
	if got := reasonKey(pgo.Errorf(pgo.EINVALID, "plain")); got != "" {
		t.Errorf("plain: reason %q; want none", got)
	}
}
