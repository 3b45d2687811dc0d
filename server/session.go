package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// accountPages serves the login, account and audit pages with their
// dependencies; it embeds the Server for rendering and error handling.
type accountPages struct {
	*Server
	d AccountDeps
}

// MountAccount registers the login, logout, account, enrolment and audit pages
// (issue 6) as browser routes. cmd/pgo calls it after New, with the services it
// built; without it those pages do not exist.
func (s *Server) MountAccount(d AccountDeps) {
	if d.Service == nil {
		return
	}
	a := &accountPages{Server: s, d: d}
	s.nav = a // every page's header shows the session (page.go)
	a.routes(s.group(KindBrowser, s.rememberLang))
}

// AccountDeps is what the login, account and audit pages need (issue 6).
type AccountDeps struct {
	// Service is the account domain; nil: none of these routes is mounted.
	Service *account.Service
	// OIDC is the external login; nil: only password + TOTP.
	OIDC *account.OIDC
	// Audit reads the audit log and records that it was viewed.
	Audit AuditLog
}

// AuditLog is the part of the audit store the audit pages use (auditdb.Store plus
// auditdb.Record).
type AuditLog interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
	Status(ctx context.Context) (audit.ChainStatus, error)
	// Record appends one event in a transaction of its own.
	Record(ctx context.Context, ev audit.Event) error
}

// sessionCookie carries the session id. The __Host- prefix makes browsers refuse
// it unless it is Secure, host-only and Path=/ (RFC 6265bis §4.1.3.2), so a sibling
// subdomain cannot plant one (session fixation).
const sessionCookie = "__Host-pgo-session"

// csrfField is the form field of the synchronizer token.
const csrfField = "csrf"

// ctxSession is where loadSession caches the request's session.
const ctxSession = "pgo.session"

// current is the request's session, if any.
type current struct {
	id   string           // cookie value
	sess *account.Session // nil: no valid session
	// err is a failed lookup (the database, say): not the same as being logged
	// out, so the request ends in a server error rather than the login page,
	// which would start a new visitor session and send a logged-in user round.
	err error
}

// session returns the request's session (validated once per request, which also
// refreshes its idle timer).
func (s *accountPages) session(c echo.Context) current {
	if cur, ok := c.Get(ctxSession).(current); ok {
		return cur
	}
	var cur current
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		sess, err := s.d.Service.Session(c.Request().Context(), ck.Value)
		switch {
		case err == nil:
			cur = current{id: ck.Value, sess: sess}
		case !is(err, account.ErrNoSession):
			cur = current{err: err}
		}
	}
	c.Set(ctxSession, cur)
	return cur
}

// setSession sends the new session id and caches it for the rest of the request.
func (s *accountPages) setSession(c echo.Context, id string, sess *account.Session) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	c.Set(ctxSession, current{id: id, sess: sess})
}

func (s *accountPages) clearSession(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.Set(ctxSession, current{})
}

// anonymous returns the request's session id, starting a visitor session when
// there is none, so that every form has a session-bound CSRF token.
func (s *accountPages) anonymous(c echo.Context) (string, error) {
	if cur := s.session(c); cur.sess != nil || cur.err != nil {
		return cur.id, cur.err
	}
	id, err := s.d.Service.StartAnonymous(c.Request().Context(), client(c))
	if err != nil {
		return "", err
	}
	s.setSession(c, id, &account.Session{Stage: account.StageAnon})
	return id, nil
}

// requireLogin lets only fully logged-in sessions through, and of roles only
// when roles are given (403 otherwise). A browser without a session is sent to the
// login page.
func (s *accountPages) requireLogin(roles ...account.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cur := s.session(c)
			if cur.err != nil {
				return cur.err
			}
			if cur.sess == nil || cur.sess.Stage != account.StageFull {
				if c.Request().Method == http.MethodGet {
					return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
				}
				return account.ErrNoSession
			}
			if len(roles) > 0 && !hasRole(cur.sess.Role, roles) {
				return errRole
			}
			return next(c)
		}
	}
}

func hasRole(r account.Role, roles []account.Role) bool {
	for _, x := range roles {
		if r == x {
			return true
		}
	}
	return false
}

// errRole refuses a page to a logged-in account of another role.
var errRole = pgo.NewError(pgo.EFORBIDDEN, "error.reason.role", "This page is not available for your role.")

// errCSRF refuses a state-changing request without the session's token.
var errCSRF = pgo.NewError(pgo.EFORBIDDEN, "error.reason.csrf", "The form has expired. Reload the page and try again.")

// checkCSRF guards every POST of the browser pages: the form must carry the
// token of the session in the cookie (synchronizer token, OWASP CSRF prevention
// cheat sheet; ASVS 5.0 V3.5.1). SameSite=Lax is a second line, not the defence.
//
// The form is parsed first: a body over PGO_MAX_BODY_BYTES (sent without a
// Content-Length, so limitBody could not refuse it up front) is a 413 that says
// so, not "the form has expired" (issue 13: a new user got the wrong reason).
//
// The token is read from the body only (PostFormValue, not FormValue): a token
// in the query string ends up in access logs, browser history and Referer
// headers (ASVS 5.0 V14.2.1), so a POST that carries it there is refused.
func (s *accountPages) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := c.FormParams(); err != nil && tooLarge(err) {
			return errBodyTooLarge
		}
		ck, err := c.Cookie(sessionCookie)
		if err != nil || !account.CheckCSRF(ck.Value, c.Request().PostFormValue(csrfField)) {
			return errCSRF
		}
		if err := s.session(c).err; err != nil {
			return err // the handler would read a failed lookup as "logged out"
		}
		return next(c)
	}
}

// client describes the request for the audit log.
func client(c echo.Context) account.Client {
	ctx := c.Request().Context()
	return account.Client{IP: c.RealIP(), UserAgent: c.Request().UserAgent(),
		RequestID: reqctx.RequestID(ctx), CorrelationID: reqctx.CorrelationID(ctx)}
}

// localPath accepts only a path on this site as a redirect target after login
// (no open redirect: "//evil", "/\evil" and absolute URLs are refused).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n") {
		return "/account"
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/account"
	}
	return p
}

func is(err, target error) bool { return errors.Is(err, target) }
