package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/web"
)

// langCookie remembers an explicit language choice (?lang=en) across pages.
const langCookie = "pgo_lang"

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
	return web.Page{
		Lang:         lang(c),
		InstanceName: s.cfg.InstanceName,
		Title:        title,
		RequestID:    reqctx.RequestID(c.Request().Context()),
	}
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
