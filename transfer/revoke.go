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

// metadata is what we read of a source's RFC 8414 authorization server metadata.
type metadata struct {
	Issuer       string `json:"issuer"`
	Revocation   string `json:"revocation_endpoint"`
	IssSupported bool   `json:"authorization_response_iss_parameter_supported"`
}

// serverMetadata fetches the issuer's metadata (RFC 8414 §3: at
// /.well-known/oauth-authorization-server); ok is false when there is none or its
// issuer is not the one we expect (§3.3: then it must not be used).
func (s *Service) serverMetadata(ctx context.Context, t Transfer) (metadata, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Issuer+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return metadata{}, false
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.c.HTTP.Do(req)
	if err != nil {
		return metadata{}, false
	}
	defer resp.Body.Close()
	var md metadata
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&md) != nil || md.Issuer != t.Issuer {
		return metadata{}, false
	}
	return md, true
}

// revocationEndpoint is the metadata's revocation_endpoint on the issuer's origin,
// else the contract's ISSUER/oauth/revoke.
func (s *Service) revocationEndpoint(ctx context.Context, t Transfer) string {
	if md, ok := s.serverMetadata(ctx, t); ok && md.Revocation != "" {
		if u, same := sameOrigin(t.Issuer+"/", md.Revocation); same {
			return u
		}
	}
	return t.Issuer + "/oauth/revoke"
}
