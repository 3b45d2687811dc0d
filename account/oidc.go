package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// OIDCConfig configures login through an external OpenID Connect provider (how a
// PGO connects a DigiD broker or its own identity provider).
type OIDCConfig struct {
	Issuer       string // the iss every ID token must carry (OIDC Core 1.0 §3.1.3.7 step 2)
	DiscoveryURL string // where the provider metadata is read; empty: Issuer
	ClientID     string
	ClientSecret string
	RedirectURL  string // our callback, registered at the provider
	MinACR       string // lowest acceptable acr (two factors), see ACRAtLeast
	// Timeout bounds every call to the provider (discovery, code exchange, key
	// fetch), so a hanging provider can stall neither start-up nor a login.
	// Zero means DefaultOIDCTimeout.
	Timeout time.Duration
}

// DefaultOIDCTimeout is the per-call limit for talking to the identity provider.
const DefaultOIDCTimeout = 10 * time.Second

// OIDCRequest is a pending authorization request: state, nonce and PKCE verifier
// kept server-side, bound to the browser session that started it, used once.
type OIDCRequest struct {
	StateHash   []byte
	SessionHash []byte
	Nonce       string
	Verifier    string
	CreatedAt   time.Time
}

// oidcRequestTTL bounds how long a user may take at the provider.
const oidcRequestTTL = 10 * time.Minute

// OIDC logs people in through one external provider with the authorization code
// flow, PKCE (RFC 7636, S256), state and nonce (OIDC Core 1.0 §3.1.2.1, §15.5.2).
type OIDC struct {
	svc      *Service
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	minACR   string
	issuer   string
	http     *http.Client
	// TokenNow is the clock for ID token expiry; tests move it forward.
	TokenNow func() time.Time
}

// ErrOIDCFailed is the caller-facing answer to any refused external login.
var ErrOIDCFailed = pgo.NewError(pgo.EUNAUTHORIZED, "login.oidc_failed", "Logging in through the identity provider did not succeed. Please try again.")

// NewOIDC reads the provider's metadata (OIDC Discovery 1.0 §4).
func (s *Service) NewOIDC(ctx context.Context, c OIDCConfig) (*OIDC, error) {
	if _, ok := acrRank(c.MinACR); !ok {
		return nil, pgo.Errorf(pgo.EINVALID, "PGO_OIDC_MIN_ACR: %q is not a known level of assurance", c.MinACR)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultOIDCTimeout
	}
	hc := &http.Client{Timeout: timeout}
	// go-oidc and x/oauth2 take their HTTP client from the context; the verifier
	// keeps this one for its key fetches.
	ctx = oidc.ClientContext(ctx, hc)
	disc := c.DiscoveryURL
	if disc == "" {
		disc = c.Issuer
	} else {
		ctx = oidc.InsecureIssuerURLContext(ctx, c.Issuer)
	}
	p, err := oidc.NewProvider(ctx, disc)
	if err != nil {
		return nil, pgo.Wrap(pgo.EUNAVAILABLE, err, "The identity provider cannot be reached.")
	}
	o := &OIDC{svc: s, minACR: c.MinACR, issuer: c.Issuer, http: hc, TokenNow: s.now}
	o.oauth = oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID},
	}
	o.verifier = p.VerifierContext(ctx, &oidc.Config{ClientID: c.ClientID, Now: func() time.Time { return o.TokenNow() }})
	return o, nil
}

// Start records a new request for the session sessionID and returns the URL to
// send the browser to.
func (o *OIDC) Start(ctx context.Context, sessionID string) (string, error) {
	state, nonce := randomToken(), randomToken()
	verifier := oauth2.GenerateVerifier()
	err := o.svc.store.InTx(ctx, func(tx Tx) error {
		if _, _, err := o.svc.live(ctx, tx, sessionID); err != nil {
			return err
		}
		return tx.SaveOIDCRequest(ctx, &OIDCRequest{
			StateHash: hashID(state), SessionHash: hashID(sessionID),
			Nonce: nonce, Verifier: verifier, CreatedAt: o.svc.clock(),
		})
	})
	if err != nil {
		return "", err
	}
	return o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("acr_values", o.minACR)), nil
}

// Callback finishes the login: it takes the pending request for state (once),
// redeems code with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry, nonce, acr) and returns a new StageFull session for the account
// matched or created by issuer + subject. Every refusal is audited.
func (o *OIDC) Callback(ctx context.Context, sessionID, state, code string, c Client) (string, *Session, error) {
	req, err := o.take(ctx, sessionID, state)
	if err != nil {
		return "", nil, o.refuse(ctx, "invalid_state", err, c)
	}
	ctx = oidc.ClientContext(ctx, o.http)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(req.Verifier))
	if err != nil {
		return "", nil, o.refuse(ctx, "code_exchange_failed", err, c)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return "", nil, o.refuse(ctx, "no_id_token", errors.New("token response without id_token"), c)
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return "", nil, o.refuse(ctx, verifyReason(err), err, c)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(req.Nonce)) != 1 {
		return "", nil, o.refuse(ctx, "nonce_mismatch", errors.New("id token nonce differs"), c)
	}
	var claims struct {
		ACR string `json:"acr"`
	}
	if err := idt.Claims(&claims); err != nil || !ACRAtLeast(claims.ACR, o.minACR) {
		return "", nil, o.refuse(ctx, "acr_too_low", errors.New("acr below minimum"), c)
	}
	return o.svc.loginSubject(ctx, sessionID, idt.Issuer, idt.Subject, claims.ACR, c)
}

// take consumes the pending request and checks that it belongs to this session.
func (o *OIDC) take(ctx context.Context, sessionID, state string) (*OIDCRequest, error) {
	var req *OIDCRequest
	err := o.svc.store.InTx(ctx, func(tx Tx) error {
		var err error
		req, err = tx.TakeOIDCRequest(ctx, hashID(state))
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case subtle.ConstantTimeCompare(req.SessionHash, hashID(sessionID)) != 1:
		return nil, errors.New("state belongs to another session")
	case o.svc.clock().Sub(req.CreatedAt) > oidcRequestTTL:
		return nil, errors.New("authorization request expired")
	}
	return req, nil
}

// refuse audits a failed external login and returns ErrOIDCFailed (detail in Err).
func (o *OIDC) refuse(ctx context.Context, reason string, cause error, c Client) error {
	err := o.svc.store.InTx(ctx, func(tx Tx) error {
		ev := o.svc.event(audit.ActLoginFailed, audit.Failure, reason, "", "", c)
		ev.Details = map[string]string{"method": "oidc"}
		return tx.Audit(ctx, ev)
	})
	if err != nil {
		return err
	}
	return &pgo.Error{Code: ErrOIDCFailed.Code, Message: ErrOIDCFailed.Message, Err: errors.Join(ErrOIDCFailed, cause)}
}

func verifyReason(err error) string {
	var exp *oidc.TokenExpiredError
	if errors.As(err, &exp) {
		return "id_token_expired"
	}
	return "id_token_invalid"
}

// loginSubject matches (or creates, as a patient) the account for issuer+subject and
// replaces the browser session by a StageFull one.
func (s *Service) loginSubject(ctx context.Context, oldID, issuer, subject, acr string, c Client) (string, *Session, error) {
	var newID string
	var sess *Session
	var fail error
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.clock()
		a, err := tx.AccountBySubject(ctx, issuer, subject)
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			a, err = s.createSubject(ctx, tx, issuer, subject, now, c)
		}
		if err != nil {
			return err
		}
		if a.Locked(now) {
			fail = ErrLoginFailed
			return tx.Audit(ctx, s.event(audit.ActLoginFailed, audit.Failure, lockReason(a), a.ID, a.Role, c))
		}
		if err := dropSession(ctx, tx, oldID); err != nil {
			return err
		}
		if newID, sess, err = s.newSession(ctx, tx, a, StageFull, now); err != nil {
			return err
		}
		ev := s.event(audit.ActLogin, audit.Success, "", a.ID, a.Role, c)
		ev.Details = map[string]string{"method": "oidc", "acr": acr}
		return tx.Audit(ctx, ev)
	})
	if err != nil {
		return "", nil, err
	}
	return newID, sess, fail
}

func (s *Service) createSubject(ctx context.Context, tx Tx, issuer, subject string, now time.Time, c Client) (*Account, error) {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject))
	a := &Account{ID: newAccountID(), Name: "oidc-" + hex.EncodeToString(h[:8]), Role: RolePatient,
		OIDCIssuer: issuer, OIDCSubject: subject, CreatedAt: now}
	if err := tx.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	ev := s.adminEvent(audit.ActAccountCreated, a, c)
	ev.ActorType, ev.ActorID = audit.ActorUser, a.ID
	ev.Details["method"] = "oidc"
	return a, tx.Audit(ctx, ev)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
