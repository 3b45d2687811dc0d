package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// requestIDs takes the request id from MedMij-Request-ID or X-Request-Id and the
// correlation id from X-Correlation-ID when they are well formed (reqctx.ValidID),
// and makes fresh UUIDs otherwise. Both go into the request context (for logs,
// audit records and outbound calls) and back on the response, where
// MedMij-Request-ID and X-Request-Id carry the same value.
func (s *Server) requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ids := reqctx.IDs{
			Request:     firstValid(r.Header, reqctx.HeaderMedMijRequestID, reqctx.HeaderRequestID),
			Correlation: firstValid(r.Header, reqctx.HeaderCorrelationID),
		}
		c.SetRequest(r.WithContext(reqctx.WithIDs(r.Context(), ids)))
		h := c.Response().Header()
		// Set the map directly to send the spelling MedMij documents (Header.Set
		// would canonicalise it to Medmij-Request-Id; names are case-insensitive).
		h[reqctx.HeaderMedMijRequestID] = []string{ids.Request}
		h[reqctx.HeaderRequestID] = []string{ids.Request}
		h[reqctx.HeaderCorrelationID] = []string{ids.Correlation}
		return next(c)
	}
}

// firstValid returns the first valid id among the headers, or a fresh one.
func firstValid(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); reqctx.ValidID(v) {
			return v
		}
	}
	return reqctx.NewID()
}

// Security headers on every response (OWASP ASVS 5.0 V3.4). The CSP allows only
// our own origin and forbids framing, foreign form targets, <base> and plugins
// (object-src 'none', ASVS 5.0 V3.4.3).
const csp = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		// Health data must not land in shared or browser caches. The static
		// handler overrides this for its assets.
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// accessLog writes one JSON line per request and records the metrics. It logs the
// route template (never the URL: query strings carry codes and states), the
// method, status, duration, size and remote address; never headers or bodies.
// Errors are rendered here (c.Error) so that the logged status is the real one.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		res := c.Response()
		route := s.routeLabel(c)
		s.metrics.observe(route, c.Request().Method, res.Status, d)
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case res.Status >= 400:
			level = slog.LevelWarn
		}
		s.log.LogAttrs(c.Request().Context(), level, "request",
			slog.String("method", c.Request().Method),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int64("bytes", res.Size),
			slog.String("remote_ip", c.RealIP()),
			slog.String("proto", c.Request().Proto),
		)
		return nil
	}
}

// routeLabel is the matched route template, or "unmatched" for requests that hit
// no route (so that scanners cannot blow up the metrics' label space).
func (s *Server) routeLabel(c echo.Context) string {
	if _, ok := s.kinds[c.Path()]; ok {
		return c.Path()
	}
	return "unmatched"
}

// recoverPanic turns a panic into a 500 that shows only the request id; the panic
// value and stack go to the log.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response; not a bug
			}
			s.log.ErrorContext(c.Request().Context(), "panic in handler",
				"route", c.Path(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = pgo.Errorf(pgo.EINTERNAL, "panic")
		}()
		return next(c)
	}
}

// errBodyTooLarge refuses a body over PGO_MAX_BODY_BYTES with its own reason, so
// the page says what was too large and what to do (WCAG 2.2 SC 3.3.3).
var errBodyTooLarge = pgo.NewError(pgo.ETOOLARGE, "error.reason.too_large",
	"What you sent is larger than this page accepts. Go back, send less (a shorter text or a smaller file) and try again.")

// limitBody refuses bodies over PGO_MAX_BODY_BYTES: at once when Content-Length
// says so, otherwise when a handler reads past the limit (http.MaxBytesReader);
// both become ETOOLARGE (413).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			return errBodyTooLarge
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		}
		return next(c)
	}
}

// tooLarge reports whether err comes from reading past the body limit; handlers
// that wrap the read error still get a 413.
func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || strings.Contains(err.Error(), "http: request body too large")
}
