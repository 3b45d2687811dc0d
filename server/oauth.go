package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// peerOptional puts a verified client certificate into the request context when
// there is one and lets the request through either way: the token and revocation
// endpoints refuse a missing certificate themselves, as an audited OAuth
// invalid_client (RFC 6749 §5.2). The certificate is verified exactly as
// requirePeer does (TLS chain to PGO_CLIENT_CA, or the trusted proxy's header).
func (s *Server) peerOptional(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := consent.WithIP(r.Context(), c.RealIP())
		if peer, err := s.verifiedPeer(r); err == nil {
			ctx = reqctx.WithPeer(ctx, peer)
		}
		c.SetRequest(r.WithContext(ctx))
		return next(c)
	}
}

// token is POST /oauth/token (MedMij token interface; RFC 6749 §4.1.3).
func (p *consentPages) token(c echo.Context) error {
	resp, err := p.svc.Token(c.Request().Context(), c.Request())
	if err != nil {
		p.logOAuth(c, err)
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, resp)
}

// revoke is POST /oauth/revoke (RFC 7009 §2).
func (p *consentPages) revoke(c echo.Context) error {
	if err := p.svc.Revoke(c.Request().Context(), c.Request()); err != nil {
		p.logOAuth(c, err)
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// logOAuth logs a refused peer request: its code and audit reason, and the cause
// of a server error. The OAuth error answers the peer itself (server.Responder),
// so the error handler does not log it.
func (p *consentPages) logOAuth(c echo.Context, err error) {
	ctx := c.Request().Context()
	var oe *consent.OAuthError
	if !errors.As(err, &oe) {
		return
	}
	if oe.Code == "server_error" && oe.Err != nil {
		p.log.ErrorContext(ctx, "oauth endpoint failed", "route", c.Path(), "error", oe.Err.Error())
		return
	}
	p.log.InfoContext(ctx, "oauth request refused", "route", c.Path(), "error", oe.Code, "reason", oe.Reason)
}

// metadata is the authorization server metadata (RFC 8414 §3).
func (p *consentPages) metadata(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.JSON(http.StatusOK, p.svc.Metadata())
}

// jwks is the key set that verifies our access tokens (RFC 7517 §5).
func (p *consentPages) jwks(c echo.Context) error {
	b, err := json.Marshal(p.svc.JWKS())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/jwk-set+json", b)
}
