package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/web"
)

// statusByCode is the one table from the project's error codes to HTTP statuses.
var statusByCode = map[string]int{
	pgo.EINVALID:      http.StatusBadRequest,
	pgo.ENOTFOUND:     http.StatusNotFound,
	pgo.ECONFLICT:     http.StatusConflict,
	pgo.EUNAUTHORIZED: http.StatusUnauthorized,
	pgo.EFORBIDDEN:    http.StatusForbidden,
	pgo.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	pgo.ERATELIMIT:    http.StatusTooManyRequests,
	pgo.EUNAVAILABLE:  http.StatusServiceUnavailable,
	pgo.EINTERNAL:     http.StatusInternalServerError,
}

// codeByStatus maps statuses that echo itself produces (router, binder) back to a
// code, so every error response has one.
var codeByStatus = map[int]string{
	http.StatusBadRequest:            pgo.EINVALID,
	http.StatusNotFound:              pgo.ENOTFOUND,
	http.StatusConflict:              pgo.ECONFLICT,
	http.StatusUnauthorized:          pgo.EUNAUTHORIZED,
	http.StatusForbidden:             pgo.EFORBIDDEN,
	http.StatusRequestEntityTooLarge: pgo.ETOOLARGE,
	http.StatusTooManyRequests:       pgo.ERATELIMIT,
	http.StatusServiceUnavailable:    pgo.EUNAVAILABLE,
	http.StatusInternalServerError:   pgo.EINTERNAL,
	http.StatusMethodNotAllowed:      "method_not_allowed",
}

// Responder is implemented by errors that write their own response. The OAuth
// error type (later issue, RFC 6749 §4.1.2.1 and §5.2) is one: it knows whether to
// redirect to a verified redirect_uri with error= parameters, answer the token
// endpoint with an OAuth JSON error, or fall back to the error page (never
// redirecting to an unverified URI). Respond returns false to let the generic
// handling below take over. It uses net/http only, so domain packages can
// implement it without importing echo.
type Responder interface {
	error
	Respond(w http.ResponseWriter, r *http.Request) bool
}

// ProblemTypeBase prefixes the problem "type" URIs (RFC 9457 §3.1.1): a tag URI
// (RFC 4151) per error code, stable for clients to switch on.
const ProblemTypeBase = "tag:pgo-koppelvlak.nl,2026:problem:"

// problem is an RFC 9457 problem details object, with the request and correlation
// ids as extension members so a peer can quote them.
type problem struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail,omitempty"`
	Instance      string `json:"instance,omitempty"`
	Code          string `json:"code"`
	RequestID     string `json:"request_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// outcome is an error reduced to what may leave the process.
type outcome struct {
	status int
	code   string
	detail string // caller-safe; "" for internal errors
}

// classify reduces err to a status, a code and a caller-safe message. Only
// *pgo.Error messages (non-internal) and echo's own status texts are shown.
func classify(err error) outcome {
	var pe *pgo.Error
	var he *echo.HTTPError
	switch {
	case tooLarge(err):
		return outcome{http.StatusRequestEntityTooLarge, pgo.ETOOLARGE, "The request body is too large."}
	case errors.As(err, &pe):
		code := pe.Code
		status, ok := statusByCode[code]
		if !ok {
			status, code = http.StatusInternalServerError, pgo.EINTERNAL
		}
		if code == pgo.EINTERNAL {
			return outcome{status, code, ""}
		}
		return outcome{status, code, pgo.ErrorMessage(err)}
	case errors.As(err, &he):
		code, ok := codeByStatus[he.Code]
		if !ok {
			code = "other"
		}
		if he.Code >= 500 {
			return outcome{he.Code, code, ""}
		}
		return outcome{he.Code, code, http.StatusText(he.Code)}
	}
	return outcome{http.StatusInternalServerError, pgo.EINTERNAL, ""}
}

// handleError is echo's HTTPErrorHandler: the one place where an error becomes a
// response. Browser routes get the HTML error page (Dutch, or English by ?lang=en
// or Accept-Language) with the request id; every other route gets
// application/problem+json. Internal details go to the log only.
func (s *Server) handleError(err error, c echo.Context) {
	ctx := c.Request().Context()
	if c.Response().Committed {
		s.log.WarnContext(ctx, "error after response was sent", "route", c.Path(), "error", err.Error())
		return
	}
	var rsp Responder
	if errors.As(err, &rsp) && rsp.Respond(c.Response(), c.Request()) {
		return
	}
	o := classify(err)
	if o.status >= 500 {
		s.log.ErrorContext(ctx, "request failed", "route", c.Path(), "code", o.code, "error", err.Error())
	} else if errors.Unwrap(err) != nil {
		s.log.InfoContext(ctx, "request refused", "route", c.Path(), "code", o.code, "error", err.Error())
	}
	if o.status == http.StatusMethodNotAllowed {
		if allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string); ok {
			c.Response().Header().Set(echo.HeaderAllow, allow)
		}
	}
	if s.wantsHTML(c) {
		reason := reasonKey(err)
		if reason == "" && tooLarge(err) {
			reason = errBodyTooLarge.Reason
		}
		s.errorPage(c, o, reason)
		return
	}
	s.problem(c, o)
}

func (s *Server) problem(c echo.Context, o outcome) {
	ids := reqctx.FromContext(c.Request().Context())
	p := problem{
		Type:          ProblemTypeBase + o.code,
		Title:         http.StatusText(o.status),
		Status:        o.status,
		Detail:        o.detail,
		Instance:      c.Request().URL.Path,
		Code:          o.code,
		RequestID:     ids.Request,
		CorrelationID: ids.Correlation,
	}
	if p.Detail == "" && o.code == pgo.EINTERNAL {
		p.Detail = "An internal error has occurred. Quote the request_id when you report it."
	}
	b, _ := json.Marshal(p) // cannot fail: strings and ints only
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(o.status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(b)
	}
}

// errorPage renders the HTML error page; reason is the translation key of a
// known error's reason ("" when none).
func (s *Server) errorPage(c echo.Context, o outcome, reason string) {
	r := c.Request()
	v := web.ErrorView{
		Page:   s.page(c, ""),
		Status: o.status,
		Code:   o.code,
	}
	switch {
	case reason != "" && o.code != pgo.EINTERNAL:
		v.Message = v.T(reason) // a known reason, in the reader's language
	case v.Lang == web.EN && o.code != pgo.EINTERNAL && o.code != "other":
		v.Message = o.detail // domain messages are English; show them to English readers
	}
	var buf strings.Builder
	if err := s.web.Render(&buf, "error", v); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "error", err.Error())
		s.problem(c, o)
		return
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(o.status)
	if r.Method != http.MethodHead {
		_, _ = c.Response().Write([]byte(buf.String()))
	}
}

// wantsHTML decides the error format: by the route's kind when a route matched,
// else (unknown paths) by whether the client asks for HTML.
func (s *Server) wantsHTML(c echo.Context) bool {
	if k, ok := s.kinds[c.Path()]; ok {
		return k == KindBrowser
	}
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return strings.Contains(accept, "text/html")
}
