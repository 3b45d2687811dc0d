package consent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// TokenType is the JWT "typ" of our access tokens (RFC 9068 §2.1).
const TokenType = "at+jwt"

// claims are the access token's claims (RFC 9068 §2.2, RFC 8705 §3.1).
type claims struct {
	Issuer   string            `json:"iss"`
	Subject  string            `json:"sub"` // account id, never a BSN
	Audience string            `json:"aud"`
	ClientID string            `json:"client_id"`
	Scope    string            `json:"scope"`
	ID       string            `json:"jti"`
	IssuedAt int64             `json:"iat"`
	Expiry   int64             `json:"exp"`
	Cnf      map[string]string `json:"cnf"`
	GrantID  string            `json:"grant_id"`
}

// signAccessToken makes the JWT of a token request whose session has its token
// id, thumbprint and expiry set (Token).
func (s *Service) signAccessToken(r fosite.Requester) (string, error) {
	sess, _ := r.GetSession().(*Session)
	if sess == nil || sess.TokenID == "" || sess.Thumbprint == "" {
		return "", errors.New("consent: access token without id or certificate binding")
	}
	c := claims{Issuer: s.cfg.Issuer, Subject: sess.Subject, Audience: s.Audience(), ClientID: r.GetClient().GetID(),
		Scope: sess.Scope, ID: sess.TokenID, IssuedAt: s.now().Unix(), Expiry: sess.GetExpiresAt(fosite.AccessToken).Unix(),
		Cnf: map[string]string{"x5t#S256": sess.Thumbprint}, GrantID: sess.GrantID}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return s.d.Signer.SignJWT(b, TokenType)
}

// Access is what a verified access token allows (the FHIR endpoint's
// server.FHIRAccess has the same fields; cmd/pgo adapts one to the other).
type Access struct {
	TokenID, GrantID, AccountID, ClientID, Scope, CorrelationID, ExportJobID string
	ExpiresAt                                                                time.Time
}

// Refusals of CheckAccess (EUNAUTHORIZED; the reason goes to the audit log).
func denied(reason string) *pgo.Error {
	return &pgo.Error{Code: pgo.EUNAUTHORIZED, Reason: "consent.access.denied",
		Message: "The access token is not valid for this request.", Err: errors.New(reason)}
}

// verifyAccessToken checks the signature (ES256, our key, typ at+jwt), iss, aud
// and exp, and returns the claims. The failure reason is the error's Err.
func (s *Service) verifyAccessToken(token string) (claims, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return claims{}, denied("malformed")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return claims{}, denied("wrong_type")
	}
	set := s.d.Signer.PublicJWKS()
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return claims{}, denied("unknown_key")
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return claims{}, denied("bad_signature")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, denied("malformed")
	}
	switch {
	case c.Issuer != s.cfg.Issuer:
		return claims{}, denied("wrong_issuer")
	case c.Audience != s.Audience():
		return claims{}, denied("wrong_audience")
	case !s.now().Before(time.Unix(c.Expiry, 0)):
		return claims{}, denied("expired")
	}
	return c, nil
}

// CheckAccess verifies a bearer token for the FHIR endpoint: signature, iss, aud,
// exp, the certificate binding (cnf x5t#S256 equal to the thumbprint of the
// client certificate of this request, RFC 8705 §3), that the client is still on
// the current OCL with gegevensdienst 51 and, in PostgreSQL, that the token is
// not revoked and its grant is still live, so that withdrawal, revocation and a
// change of the OCL take effect at once. Refusals are EUNAUTHORIZED and audited.
func (s *Service) CheckAccess(ctx context.Context, bearer, thumbprint string) (Access, error) {
	a, err := s.checkAccess(ctx, bearer, thumbprint)
	if err != nil {
		var pe *pgo.Error
		reason := "denied"
		if errors.As(err, &pe) && pe.Err != nil && pe.Code == pgo.EUNAUTHORIZED {
			reason = pe.Err.Error()
		} else if pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
			return Access{}, err
		}
		ev := s.peerEvent(ctx, audit.ActAccessRefused, a.ClientID)
		ev.Outcome, ev.Reason = audit.Failure, reason
		ev.PersonID, ev.ObjectType, ev.ObjectID = a.AccountID, "consent", a.GrantID
		if a.CorrelationID != "" {
			ev.CorrelationID = a.CorrelationID
		}
		if aerr := s.d.Store.Audit(ctx, ev); aerr != nil {
			return Access{}, aerr
		}
		return Access{}, err
	}
	return a, nil
}

func (s *Service) checkAccess(ctx context.Context, bearer, thumbprint string) (Access, error) {
	c, err := s.verifyAccessToken(bearer)
	if err != nil {
		return Access{}, err
	}
	a := Access{TokenID: c.ID, GrantID: c.GrantID, AccountID: c.Subject, ClientID: c.ClientID, Scope: c.Scope,
		ExpiresAt: time.Unix(c.Expiry, 0).UTC()}
	if thumbprint == "" || c.Cnf["x5t#S256"] != thumbprint {
		return a, denied("certificate_mismatch")
	}
	if p, ok := reqctx.PeerFromContext(ctx); ok && !p.HasName(c.ClientID) {
		return a, denied("certificate_mismatch")
	}
	// A token outlives the OCL it was issued under: the client must still be on
	// the current list and allowed gegevensdienst 51 (an in-memory look-up).
	if oc, err := s.d.Lists.Client(c.ClientID); pgo.ErrorCode(err) == pgo.EUNAVAILABLE {
		return a, err
	} else if err != nil {
		return a, denied("client_not_on_ocl")
	} else if !oc.Allows(Gegevensdienst) {
		return a, denied("client_not_allowed")
	}
	t, g, err := s.d.Store.TokenGrant(ctx, c.ID)
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return a, denied("unknown_token")
	} else if err != nil {
		return a, err
	}
	if !t.Revoked.IsZero() {
		return a, denied("revoked")
	}
	a.CorrelationID, a.ExportJobID = g.CorrelationID, g.ExportJobID
	if st := g.StateAt(s.now()); st != StateActive {
		return a, denied("grant_" + string(st))
	}
	return a, nil
}

// Metadata is the authorization server metadata (RFC 8414 §2), with the issuer
// exactly as in tokens and iss.
func (s *Service) Metadata() map[string]any {
	return map[string]any{
		"issuer":                                         s.cfg.Issuer,
		"authorization_endpoint":                         s.cfg.Issuer + "/oauth/authorize",
		"token_endpoint":                                 s.cfg.Issuer + "/oauth/token",
		"revocation_endpoint":                            s.cfg.Issuer + "/oauth/revoke",
		"jwks_uri":                                       s.cfg.Issuer + "/oauth/jwks",
		"scopes_supported":                               []string{s.Scope()},
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"tls_client_auth"},
		"revocation_endpoint_auth_methods_supported":     []string{"tls_client_auth"},
		"tls_client_certificate_bound_access_tokens":     true,
		"authorization_response_iss_parameter_supported": true,
	}
}

// JWKS is the public key set that verifies our access tokens (RFC 7517).
func (s *Service) JWKS() jose.JSONWebKeySet { return s.d.Signer.PublicJWKS() }
