package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// revoke asks the source to revoke the access token (RFC 7009 §2.1: POST the token
// with token_type_hint, the client authenticated by its certificate over mutual
// TLS, RFC 8705). The endpoint is the revocation_endpoint of the issuer's RFC 8414
// metadata when that answers for the same issuer on the same origin, else the
// contract's ISSUER/oauth/revoke.
func (s *Service) revoke(ctx context.Context, t Transfer, token string) error {
	ctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
	defer cancel()
	endpoint := s.revocationEndpoint(ctx, t)
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}, "client_id": {s.clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered %d", resp.StatusCode)
	}
	return nil
}

// revocationEndpoint discovers the endpoint (RFC 8414 §3: metadata at
// /.well-known/oauth-authorization-server; §3.3: its issuer must be the one we
// expect, or the document is ignored).
func (s *Service) revocationEndpoint(ctx context.Context, t Transfer) string {
	fallback := t.Issuer + "/oauth/revoke"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Issuer+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return fallback
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.c.HTTP.Do(req)
	if err != nil {
		return fallback
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fallback
	}
	var md struct {
		Issuer     string `json:"issuer"`
		Revocation string `json:"revocation_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&md); err != nil || md.Issuer != t.Issuer {
		return fallback
	}
	if u, ok := sameOrigin(t.Issuer+"/", md.Revocation); ok && md.Revocation != "" {
		return u
	}
	return fallback
}
