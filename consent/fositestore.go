package consent

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
)

// fositeStore adapts Store to fosite's storage interfaces (fosite's
// handler/oauth2/storage.go, handler/pkce/storage.go, storage.Transactional).
type fositeStore struct{ s *Service }

// errCodeUsed: a concurrent redemption won the compare-and-set on the code.
var errCodeUsed = errors.New("consent: authorization code already redeemed")

// storedRequest is a fosite request as we store it: ids, scopes, the form (the
// authorization parameters fosite keeps) and our Session.
type storedRequest struct {
	ID          string     `json:"id"`
	RequestedAt time.Time  `json:"requested_at"`
	ClientID    string     `json:"client_id"`
	Scopes      []string   `json:"scopes"`
	Granted     []string   `json:"granted"`
	Audience    []string   `json:"audience"`
	GrantedAud  []string   `json:"granted_audience"`
	Form        url.Values `json:"form"`
	Session     *Session   `json:"session"`
}

func marshalRequest(r fosite.Requester) ([]byte, *Session, error) {
	sess, _ := r.GetSession().(*Session)
	if sess == nil {
		return nil, nil, errors.New("consent: request without a consent session")
	}
	return mustJSON(storedRequest{ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		Scopes: r.GetRequestedScopes(), Granted: r.GetGrantedScopes(), Audience: r.GetRequestedAudience(),
		GrantedAud: r.GetGrantedAudience(), Form: r.GetRequestForm(), Session: sess}), sess, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain strings, times and maps only
	}
	return b
}

// unmarshalRequest rebuilds a request; its client is looked up again, so a client
// taken off the OCL since the code was issued cannot redeem it. In a token
// request each stored request is decoded once (redemption.decode); each call
// still gets a request and a session of its own, as fosite changes the session.
func (f *fositeStore) unmarshalRequest(ctx context.Context, b []byte, into fosite.Session) (*fosite.Request, error) {
	sr, err := redemptionOf(ctx).decode(b)
	if err != nil {
		return nil, err
	}
	c, err := f.s.fositeClient(sr.ClientID)
	if err != nil {
		return nil, err
	}
	var stored *Session
	if sr.Session != nil {
		stored = sr.Session.Clone().(*Session)
	}
	hydrate(into, stored)
	var sess fosite.Session = stored
	return &fosite.Request{ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c, RequestedScope: sr.Scopes,
		GrantedScope: sr.Granted, RequestedAudience: sr.Audience, GrantedAudience: sr.GrantedAud,
		Form: sr.Form, Session: sess}, nil
}

// hydrate copies the stored session into the caller's, as fosite expects (its
// code check reads the expiry from the access request's session). What the token
// step has already put there (the new token's id, certificate binding and
// expiry) is kept.
func hydrate(into fosite.Session, stored *Session) {
	dst, ok := into.(*Session)
	if !ok || dst == nil || stored == nil {
		return
	}
	keep := *dst
	*dst = *stored.Clone().(*Session)
	if keep.TokenID != "" {
		dst.TokenID, dst.Thumbprint = keep.TokenID, keep.Thumbprint
		dst.SetExpiresAt(fosite.AccessToken, keep.GetExpiresAt(fosite.AccessToken))
	}
}

func notFound(err error) error {
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}

// GetClient implements fosite.ClientManager.
func (f *fositeStore) GetClient(_ context.Context, id string) (fosite.Client, error) {
	return f.s.fositeClient(id)
}

// ClientAssertionJWTValid: client assertions are refused before this is reached.
func (f *fositeStore) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT: see ClientAssertionJWTValid.
func (f *fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error { return nil }

// CreateAuthorizeCodeSession stores the hash of a new code with its request.
func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, sig string, r fosite.Requester) error {
	b, sess, err := marshalRequest(r)
	if err != nil {
		return err
	}
	return f.s.d.Store.CreateCode(ctx, Code{Signature: sigBytes(sig), RequestID: r.GetID(), GrantID: sess.GrantID,
		Request: b, Expires: sess.GetExpiresAt(fosite.AuthorizeCode)})
}

// GetAuthorizeCodeSession returns the request of a code; for a used code the
// request comes with fosite.ErrInvalidatedAuthorizeCode, upon which fosite revokes
// every token issued from it (RFC 6749 §4.1.2, RFC 9700 §4.5).
func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	c, err := f.code(ctx, sigBytes(sig))
	if err != nil {
		return nil, notFound(err)
	}
	r, err := f.unmarshalRequest(ctx, c.Request, into)
	if err != nil {
		return nil, err
	}
	if !c.Used.IsZero() {
		f.s.replayed(ctx, c)
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession redeems the code: compare-and-set, so of two
// concurrent redemptions exactly one wins; the other gets errCodeUsed. In a
// token request (Token) the compare-and-set is deferred to the statement that
// stores the token (CreateAccessTokenSession), one round trip instead of two;
// Commit runs it should nothing have.
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	if rd := redemptionOf(ctx); rd != nil && rd.is(sigBytes(sig)) {
		rd.pending = true
		return nil
	}
	return f.useCode(ctx, sigBytes(sig))
}

func (f *fositeStore) useCode(ctx context.Context, sig []byte) error {
	ok, err := f.s.d.Store.UseCode(ctx, sig, f.s.now())
	if err != nil {
		return err
	}
	if !ok {
		return errCodeUsed
	}
	return nil
}

// CreateAccessTokenSession stores the hash of an issued token with its audit
// records. In a token request it does so in the same statement as the code's
// redemption (RedeemCode: the token is stored only while its grant is live,
// closing the window between Token's grant check and the commit), with the audit
// records in the same round trip, in a transaction of RedeemCode's own (BeginTX
// opens none for a token request).
func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	b, sess, err := marshalRequest(r)
	if err != nil {
		return err
	}
	t := Token{Signature: sigBytes(sig), ID: sess.TokenID, RequestID: r.GetID(), GrantID: sess.GrantID,
		ClientID: r.GetClient().GetID(), Thumbprint: sess.Thumbprint, Request: b,
		Expires: sess.GetExpiresAt(fosite.AccessToken)}
	evs := f.s.tokenIssuedEvents(ctx, sess)
	if rd := redemptionOf(ctx); rd != nil && rd.pending {
		out, err := f.s.d.Store.RedeemCode(ctx, rd.sig, f.s.now(), t, evs...)
		switch {
		case err != nil:
			return err
		case out == CodeUsed:
			return errCodeUsed
		case out == GrantEnded:
			return errGrantEnded
		}
		rd.pending = false
		return nil
	}
	return f.s.d.Store.InTx(ctx, func(ctx context.Context) error {
		if err := f.s.d.Store.CreateToken(ctx, t); err != nil {
			return err
		}
		for _, ev := range evs {
			if err := f.s.d.Store.Audit(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetAccessTokenSession returns the request of a live token (for revocation,
// which keeps the token it found: revocation.go).
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, into fosite.Session) (fosite.Requester, error) {
	t, err := f.s.d.Store.Token(ctx, sigBytes(sig))
	if err != nil {
		return nil, notFound(err)
	}
	if !t.Revoked.IsZero() {
		keepToken(ctx, t, nil)
		return nil, fosite.ErrInactiveToken
	}
	req, err := f.unmarshalRequest(ctx, t.Request, into)
	if err != nil {
		return nil, err
	}
	sess, _ := req.Session.(*Session)
	keepToken(ctx, t, sess)
	return req, nil
}

// DeleteAccessTokenSession revokes the token's request's tokens.
func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	t, err := f.s.d.Store.Token(ctx, sigBytes(sig))
	if err != nil {
		return notFound(err)
	}
	_, err = f.s.d.Store.RevokeTokens(ctx, t.RequestID, f.s.now())
	return err
}

// RevokeAccessToken revokes every access token of a request (RFC 7009 §2.1; also
// fosite's answer to a replayed code). In a revocation request it does nothing:
// Revoke then revokes the grant's tokens (these among them) in the transaction
// that ends the grant and writes the token_revoked record, whereas here, in a
// statement of its own before that transaction, the token would stay revoked
// should the transaction fail, with the grant active and nothing audited.
func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	if revoking(ctx) {
		return nil
	}
	_, err := f.s.d.Store.RevokeTokens(ctx, requestID, f.s.now())
	return err
}

// Refresh tokens do not exist here.
func (f *fositeStore) CreateRefreshTokenSession(context.Context, string, string, fosite.Requester) error {
	return fosite.ErrUnsupportedGrantType
}
func (f *fositeStore) GetRefreshTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}
func (f *fositeStore) DeleteRefreshTokenSession(context.Context, string) error  { return nil }
func (f *fositeStore) RotateRefreshToken(context.Context, string, string) error { return nil }
func (f *fositeStore) RevokeRefreshToken(context.Context, string) error         { return nil }

// CreatePKCERequestSession stores the code's challenge.
func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	b, _, err := marshalRequest(r)
	if err != nil {
		return err
	}
	return f.s.d.Store.CreatePKCE(ctx, sigBytes(sig), b)
}

// GetPKCERequestSession returns the code's challenge (read with the code in a
// token request).
func (f *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	var b []byte
	var err error
	if rd := redemptionOf(ctx); rd != nil && rd.loaded && rd.is(sigBytes(sig)) {
		if b = rd.row.PKCE; b == nil {
			err = pgo.Errorf(pgo.ENOTFOUND, "no PKCE challenge for this code")
		}
	} else {
		b, err = f.s.d.Store.PKCE(ctx, sigBytes(sig))
	}
	if err != nil {
		return nil, notFound(err)
	}
	return f.unmarshalRequest(ctx, b, nil)
}

// DeletePKCERequestSession keeps the challenge on purpose. fosite deletes it
// before comparing the verifier, and treats a code without a stored challenge as
// one issued without PKCE: a second attempt without code_verifier would then pass
// when PGO_REQUIRE_PKCE is off (a PKCE downgrade after one wrong guess). The row
// goes with its code instead.
func (f *fositeStore) DeletePKCERequestSession(context.Context, string) error { return nil }

// BeginTX, Commit and Rollback make fosite's token step (redeem the code, store
// the token) one transaction (storage.Transactional). In a token request
// (Token) that step's only write is RedeemCode, which runs its own transaction
// (begin, the statement and the audit records in one round trip, then commit or
// rollback): BeginTX opens none there, and Commit and Rollback find none.
func (f *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	if rd := redemptionOf(ctx); rd != nil {
		return ctx, nil
	}
	return f.s.d.Store.Begin(ctx)
}
func (f *fositeStore) Commit(ctx context.Context) error {
	if rd := redemptionOf(ctx); rd != nil && rd.pending { // never commit a token step without the code's compare-and-set
		if err := f.useCode(ctx, rd.sig); err != nil {
			return err
		}
		rd.pending = false
	}
	return f.s.d.Store.Commit(ctx)
}
func (f *fositeStore) Rollback(ctx context.Context) error { return f.s.d.Store.Rollback(ctx) }
