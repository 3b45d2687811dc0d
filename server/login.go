package server

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/web"
)

// routes mounts login, logout, the account, enrolment and password pages and the audit
// pages (issue 6). Every POST carries the session's CSRF token.
func (s *accountPages) routes(b *RouteGroup) {
	login := s.requireLogin()
	b.GET("/login", s.loginPage)
	b.POST("/login", s.loginPassword, s.checkCSRF)
	b.GET("/login/code", s.codePage)
	b.POST("/login/code", s.loginCode, s.checkCSRF)
	b.POST("/logout", s.logout, s.checkCSRF)
	b.POST("/logout/everywhere", s.logoutEverywhere, s.checkCSRF)
	if s.d.OIDC != nil {
		b.GET("/login/oidc", s.oidcStart)
		b.GET(oidcCallbackPath, s.oidcCallback)
	}
	b.GET("/account", s.accountPage, login)
	b.GET("/account/enrol", s.enrolPage, login)
	b.POST("/account/enrol", s.enrolBegin, login, s.checkCSRF)
	b.GET("/account/enrol/qr.png", s.enrolQR, login)
	b.POST("/account/enrol/confirm", s.enrolConfirm, login, s.checkCSRF)
	b.GET("/account/password", s.passwordPage, login)
	b.POST("/account/password", s.passwordChange, login, s.checkCSRF)
	if s.d.Audit != nil {
		b.GET("/audit", s.auditPage, s.requireLogin(account.RoleAuditor))
		b.GET("/mijn-log", s.myLogPage, s.requireLogin(account.RolePatient))
	}
}

// loginPage is step 1. It starts a visitor session for the CSRF token.
func (s *accountPages) loginPage(c echo.Context) error {
	cur := s.session(c)
	if cur.err != nil {
		return cur.err
	}
	if cur.sess != nil && cur.sess.Stage == account.StageFull {
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	if c.Request().Method == http.MethodHead {
		// The page's headers only: without a body there is no form whose token
		// needs a session, so a probe of the page writes no visitor session.
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		return c.NoContent(http.StatusOK)
	}
	id, err := s.anonymous(c)
	if err != nil {
		return err
	}
	v := s.loginView(c, id, "", "")
	switch c.QueryParam("info") {
	case "out":
		v.Info = "login.logged_out"
	case "everywhere":
		v.Info = "login.logged_out_everywhere"
	}
	return s.render(c, http.StatusOK, "login", v)
}

func (s *accountPages) loginView(c echo.Context, id, name, errKey string) web.LoginView {
	return web.LoginView{Page: s.page(c, web.T(lang(c), "login.title")), CSRF: account.CSRFToken(id),
		Name: name, Error: errKey, OIDC: s.d.OIDC != nil, Next: nextParam(c)}
}

// loginPassword checks name and password; on success the session id rotates to a
// half-logged-in session and the browser goes to the code step.
func (s *accountPages) loginPassword(c echo.Context) error {
	cur := s.session(c)
	name := c.FormValue("name")
	newID, err := s.d.Service.Password(c.Request().Context(), cur.id, name, c.FormValue("password"), client(c))
	if err != nil {
		return s.loginFailed(c, cur.id, name, err)
	}
	s.setSession(c, newID, &account.Session{Stage: account.StageMFA})
	return c.Redirect(http.StatusSeeOther, "/login/code?next="+url.QueryEscape(localPath(nextParam(c))))
}

// loginFailed shows the login page again with one message that does not say
// whether the account exists.
func (s *accountPages) loginFailed(c echo.Context, id, name string, err error) error {
	key, status := "", 0
	switch {
	case is(err, account.ErrTooManyAttempts):
		key, status = "login.rate_limited", http.StatusTooManyRequests
	case is(err, account.ErrBusy):
		key, status = "login.busy", http.StatusTooManyRequests
	case is(err, account.ErrLoginFailed), is(err, account.ErrNoSession):
		key, status = "login.failed", http.StatusUnauthorized
	case is(err, account.ErrOIDCFailed):
		key, status = "login.oidc_failed", http.StatusUnauthorized
	default:
		return err
	}
	if id == "" || s.session(c).sess == nil {
		var aerr error
		if id, aerr = s.anonymous(c); aerr != nil {
			return aerr
		}
	}
	return s.render(c, status, "login", s.loginView(c, id, name, key))
}

// codePage is step 2 (needs the half-logged-in session of step 1).
func (s *accountPages) codePage(c echo.Context) error {
	cur := s.session(c)
	if cur.err != nil {
		return cur.err
	}
	if cur.sess == nil || cur.sess.Stage != account.StageMFA {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.render(c, http.StatusOK, "login_code", web.CodeView{
		Page: s.page(c, web.T(lang(c), "login.code.title")), CSRF: account.CSRFToken(cur.id), Next: nextParam(c)})
}

// loginCode checks the TOTP or recovery code; on success the session id rotates
// again, to the logged-in session.
func (s *accountPages) loginCode(c echo.Context) error {
	cur := s.session(c)
	newID, sess, err := s.d.Service.SecondFactor(c.Request().Context(), cur.id, c.FormValue("code"), client(c))
	switch {
	case err == nil:
		s.setSession(c, newID, sess)
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	case is(err, account.ErrLoginFailed) && s.stillMFA(c, cur.id):
		return s.render(c, http.StatusUnauthorized, "login_code", web.CodeView{
			Page: s.page(c, web.T(lang(c), "login.code.title")), CSRF: account.CSRFToken(cur.id), Error: "login.code.wrong",
			Next: nextParam(c)})
	case is(err, account.ErrNoSession):
		// No half-logged-in session any more: most often the second request of
		// a double click, whose first request logged in and rotated the id. A
		// visitor session set now would replace the new login's cookie in the
		// browser; so no cookie, and on to where the login was going: logged
		// in, that page opens; if not (the step expired), it asks for a login.
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	}
	c.Set(ctxSession, current{})
	return s.loginFailed(c, "", "", err)
}

// stillMFA reports whether the half-logged-in session survived a failed code
// (a lockout ends it).
func (s *accountPages) stillMFA(c echo.Context, id string) bool {
	sess, err := s.d.Service.Session(c.Request().Context(), id)
	return err == nil && sess.Stage == account.StageMFA
}

func (s *accountPages) logout(c echo.Context) error {
	if err := s.d.Service.Logout(c.Request().Context(), s.session(c).id, client(c)); err != nil {
		return err
	}
	s.clearSession(c)
	return c.Redirect(http.StatusSeeOther, "/login?info=out")
}

// logoutEverywhere ends every session of the account (ASVS 5.0 V7.4.2).
func (s *accountPages) logoutEverywhere(c echo.Context) error {
	cur := s.session(c)
	if cur.sess == nil || cur.sess.Stage != account.StageFull {
		return account.ErrNoSession
	}
	if err := s.d.Service.LogoutEverywhere(c.Request().Context(), cur.id, client(c)); err != nil {
		return err
	}
	s.clearSession(c)
	return c.Redirect(http.StatusSeeOther, "/login?info=everywhere")
}

// oidcStart sends the browser to the identity provider.
func (s *accountPages) oidcStart(c echo.Context) error {
	if c.Request().Method == http.MethodHead {
		// GET starts a login (a visitor session, a pending OIDC request);
		// a probe of the link must not. There is no provider address to give
		// without starting one, so: no content. Not 405: a server must answer
		// HEAD wherever it answers GET (RFC 9110 §9.1), and a link checker
		// that gets 405 tries GET, which would start the login after all.
		return c.NoContent(http.StatusNoContent)
	}
	id, err := s.anonymous(c)
	if err != nil {
		return err
	}
	u, err := s.d.OIDC.Start(c.Request().Context(), id)
	if err != nil {
		return err
	}
	// Where to return after the provider: a local path only (an authorization
	// request waiting for this login, say), kept in a short-lived host-only
	// cookie because the provider's redirect carries nothing of ours but state.
	if next := nextParam(c); next != "" {
		c.SetCookie(&http.Cookie{Name: oidcNextCookie, Value: url.QueryEscape(next), Path: "/",
			MaxAge: 600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	} else if _, err := c.Cookie(oidcNextCookie); err == nil {
		// left by an abandoned login that had a next: this login has none,
		// so its callback must not return there
		clearOIDCNext(c)
	}
	return c.Redirect(http.StatusSeeOther, u)
}

// oidcCallbackPath is the external login's redirect URI path
// (cmd/pgo registers PGO_PUBLIC_URL + this path with the provider).
const oidcCallbackPath = "/login/oidc/callback"

// oidcNextCookie carries ?next= across the identity provider. The __Host-
// prefix (Secure, host-only, Path=/; RFC 6265bis §4.1.3.2) keeps a sibling
// subdomain from planting one and so choosing where a victim lands after the
// login; a Path scoped to the callback would rule the prefix out and saves only
// a few bytes on other requests for its ten minutes.
const oidcNextCookie = "__Host-pgo-oidc-next"

// oidcNext reads and clears the page to return to after an external login;
// anything that is not a local path gives the account page.
func oidcNext(c echo.Context) string {
	ck, err := c.Cookie(oidcNextCookie)
	if err != nil || ck.Value == "" {
		return "/account"
	}
	clearOIDCNext(c)
	p, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return "/account"
	}
	return localPath(p)
}

func clearOIDCNext(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: oidcNextCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// oidcCallback finishes the external login (state, PKCE, nonce, acr checked in
// the account package).
func (s *accountPages) oidcCallback(c echo.Context) error {
	cur := s.session(c)
	if c.QueryParam("error") != "" || cur.id == "" {
		return s.loginFailed(c, cur.id, "", account.ErrOIDCFailed)
	}
	newID, sess, err := s.d.OIDC.Callback(c.Request().Context(), cur.id, c.QueryParam("state"), c.QueryParam("code"), client(c))
	if err != nil {
		if pgo.ErrorCode(err) == pgo.EUNAUTHORIZED {
			return s.loginFailed(c, cur.id, "", account.ErrOIDCFailed)
		}
		return err
	}
	s.setSession(c, newID, sess)
	return c.Redirect(http.StatusSeeOther, oidcNext(c))
}

// nextParam is the ?next= page to return to after login, when it is local.
func nextParam(c echo.Context) string {
	if n := c.QueryParam("next"); n != "" && localPath(n) == n {
		return n
	}
	return ""
}
