package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/web"
)

// langCookie remembers an explicit language choice (?lang=en) across pages.
// The __Host- prefix (ASVS 5.0 V3.3.1) makes browsers refuse it unless it is
// Secure, host-only and for Path=/, so a sibling domain cannot plant one.
const langCookie = "__Host-pgo-lang"

// lang picks the page language: ?lang=, then the language cookie, then
// Accept-Language, then Dutch.
func lang(c echo.Context) web.Lang {
	r := c.Request()
	explicit := r.URL.Query().Get("lang")
	if explicit == "" {
		if ck, err := r.Cookie(langCookie); err == nil {
			explicit = ck.Value
		}
	}
	return web.ParseLang(explicit, r.Header.Get("Accept-Language"))
}

// rememberLang is browser-group middleware: an explicit ?lang= choice of a
// supported language is stored in a cookie so that the next pages keep it.
func (s *Server) rememberLang(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if q := c.QueryParam("lang"); q != "" {
			l := web.ParseLang(q, "")
			if strings.EqualFold(q, string(l)) || strings.HasPrefix(strings.ToLower(q), string(l)+"-") {
				c.SetCookie(&http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
					Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
			}
		}
		return next(c)
	}
}

// page builds the common view model every browser page embeds.
func (s *Server) page(c echo.Context, title string) web.Page {
	p := web.Page{
		Lang:         lang(c),
		InstanceName: s.cfg.InstanceName,
		Title:        title,
		RequestID:    reqctx.RequestID(c.Request().Context()),
		Path:         s.pagePath(c),
	}
	if s.nav != nil {
		p.Nav = s.nav.nav(c)
	}
	return p
}

// pagePath is the address the language switch links to: the request itself for
// GET, else the same path when it also has a GET page (a form that failed and
// was shown again), else the start page. A redirection endpoint's page links to
// where its flow began (callbackPages).
func (s *Server) pagePath(c echo.Context) string {
	r := c.Request()
	if p, ok := callbackPages[r.URL.Path]; ok {
		return p
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	for _, rt := range s.echo.Routes() {
		if rt.Method == http.MethodGet && rt.Path == r.URL.Path {
			return r.URL.RequestURI()
		}
	}
	return "/"
}

// callbackPages maps the redirection endpoints (RFC 6749 §3.1.2) that can show a
// page, after a failure, to the page their flow began from. Their query holds a
// single-use code and state: a language link that repeated it would put them in
// the history and a Referer, and try a redeemed code again.
var callbackPages = map[string]string{oidcCallbackPath: "/login", transfer.CallbackPath: "/ophalen"}

// navigator tells the header who is logged in. It is asked lazily by page, so
// that only pages look up the session.
type navigator interface {
	nav(c echo.Context) web.Nav
}

// nav describes the request's session for the header; only a fully logged-in
// session counts (a half-finished login shows "Inloggen").
func (s *accountPages) nav(c echo.Context) web.Nav {
	cur := s.session(c)
	if cur.sess == nil || cur.sess.Stage != account.StageFull {
		return web.Nav{}
	}
	mounted := func(path string) bool { return s.kinds[path] == KindBrowser }
	return web.Nav{LoggedIn: true, Role: string(cur.sess.Role), CSRF: account.CSRFToken(cur.id),
		Dossier: mounted("/mijn-dossier"), Transfer: mounted("/ophalen"), Grants: mounted("/toestemmingen")}
}

// render writes a browser page. Templates render into a buffer first, so a
// template error becomes a clean 500 through the error handler.
func (s *Server) render(c echo.Context, status int, page string, view any) error {
	var buf strings.Builder
	if err := s.web.Render(&buf, page, view); err != nil {
		return err
	}
	return c.HTMLBlob(status, []byte(buf.String()))
}
