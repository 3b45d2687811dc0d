package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
)

// Session is what travels with an authorization request from the consent screen
// to the token and onto the access token (fosite.Session). It holds ids only:
// no BSN, no health data, no secret.
type Session struct {
	Subject       string                         `json:"sub"` // the patient's account id
	GrantID       string                         `json:"grant_id"`
	ExportJobID   string                         `json:"export_job_id"`
	ClientID      string                         `json:"client_id"`
	Scope         string                         `json:"scope"`
	RequestID     string                         `json:"request_id"` // MedMij-Request-ID of the authorization request
	CorrelationID string                         `json:"correlation_id"`
	TokenID       string                         `json:"jti,omitempty"`
	Thumbprint    string                         `json:"x5t,omitempty"`
	ExpiresAt     map[fosite.TokenType]time.Time `json:"expires_at"`
}

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(k fosite.TokenType, t time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[k] = t
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(k fosite.TokenType) time.Time { return s.ExpiresAt[k] }

// GetUsername implements fosite.Session (no user names leave the account area).
func (s *Session) GetUsername() string { return "" }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	c := *s
	c.ExpiresAt = map[fosite.TokenType]time.Time{}
	for k, v := range s.ExpiresAt {
		c.ExpiresAt[k] = v
	}
	return &c
}

// provider composes fosite from the handlers we use: the authorization-code grant
// (RFC 6749 §4.1, with fosite's revocation of issued tokens on code replay), PKCE
// (RFC 7636, S256 only) and revocation (RFC 7009). No refresh tokens, no implicit
// or password grants, no OpenID Connect.
func (s *Service) provider() *fosite.Fosite {
	cfg := &fosite.Config{
		AccessTokenLifespan:            s.cfg.TokenTTL,
		AuthorizeCodeLifespan:          s.cfg.CodeTTL,
		RefreshTokenLifespan:           -1,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		EnforcePKCE:                    s.cfg.RequirePKCE,
		EnablePKCEPlainChallengeMethod: false,
		MinParameterEntropy:            fosite.MinParameterEntropy,
		RedirectSecureChecker:          func(_ context.Context, u *url.URL) bool { return u.Scheme == "https" },
		ClientAuthenticationStrategy:   s.authenticateClient,
		// fosite's Sanitize keeps only a few form fields of the stored request;
		// without redirect_uri its token-time comparison (RFC 6749 §4.1.3) would
		// silently be skipped.
		SanitationWhiteList: []string{"redirect_uri"},
	}
	st := &fositeStore{s: s}
	strat := &strategy{s: s}
	code := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy: strat, RefreshTokenStrategy: strat, AuthorizeCodeStrategy: strat,
		CoreStorage: st, TokenRevocationStorage: st, Config: cfg,
	}
	pk := &pkce.Handler{AuthorizeCodeStrategy: strat, Storage: st, Config: cfg}
	rev := &oauth2.TokenRevocationHandler{TokenRevocationStorage: st, RefreshTokenStrategy: strat, AccessTokenStrategy: strat}
	cfg.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{code, pk}
	cfg.TokenEndpointHandlers = fosite.TokenEndpointHandlers{code, pk}
	cfg.RevocationHandlers = fosite.RevocationHandlers{rev}
	return fosite.NewOAuth2Provider(st, cfg)
}

// hashOf is the storage key of a code or token: base64url SHA-256. Codes and
// tokens are never stored, only this.
func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sigBytes(sig string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(b) != sha256.Size {
		return make([]byte, sha256.Size) // matches nothing stored
	}
	return b
}

// strategy makes codes and access tokens.
type strategy struct{ s *Service }

// GenerateAuthorizeCode returns 256 random bits (RFC 9700 §4.5: at least 128).
func (st *strategy) GenerateAuthorizeCode(context.Context, fosite.Requester) (string, string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	return code, hashOf(code), nil
}

func (st *strategy) AuthorizeCodeSignature(_ context.Context, code string) string {
	return hashOf(code)
}

// ValidateAuthorizeCode refuses an expired code (60 s by default).
func (st *strategy) ValidateAuthorizeCode(_ context.Context, r fosite.Requester, _ string) error {
	exp := r.GetSession().GetExpiresAt(fosite.AuthorizeCode)
	if exp.IsZero() || !st.s.now().Before(exp) {
		return fosite.ErrTokenExpired.WithHint("The authorization code has expired.")
	}
	return nil
}

func (st *strategy) AccessTokenSignature(_ context.Context, token string) string {
	return hashOf(token)
}

// GenerateAccessToken signs the RFC 9068 access token (token.go).
func (st *strategy) GenerateAccessToken(_ context.Context, r fosite.Requester) (string, string, error) {
	tok, err := st.s.signAccessToken(r)
	if err != nil {
		return "", "", err
	}
	return tok, hashOf(tok), nil
}

func (st *strategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	_, err := st.s.verifyAccessToken(token)
	return err
}

// No refresh tokens: consent is for one transfer.
func (st *strategy) RefreshTokenSignature(_ context.Context, token string) string {
	return hashOf(token)
}
func (st *strategy) GenerateRefreshToken(context.Context, fosite.Requester) (string, string, error) {
	return "", "", fosite.ErrUnsupportedGrantType
}
func (st *strategy) ValidateRefreshToken(context.Context, fosite.Requester, string) error {
	return fosite.ErrInvalidGrant
}
