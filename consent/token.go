package consent

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1): no refresh token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// Token answers POST /oauth/token (authorization_code grant). The client is
// authenticated by its TLS certificate (the peer in ctx); fosite redeems the code
// (single use, atomic), compares client and redirect_uri with the authorization
// request and checks PKCE; we bind the token to the certificate (cnf x5t#S256,
// RFC 8705 §3) and never let it outlive the grant. Errors are *OAuthError (JSON),
// each audited.
func (s *Service) Token(ctx context.Context, r *http.Request) (TokenResponse, error) {
	peer, _ := reqctx.PeerFromContext(ctx)
	ctx = withRedemption(ctx)
	if gt := r.PostFormValue("grant_type"); gt != "" && gt != "authorization_code" {
		return TokenResponse{}, s.refuseToken(ctx, r, fosite.ErrUnsupportedGrantType, nil)
	}
	ar, err := s.oauth.NewAccessRequest(ctx, r, &Session{})
	if err != nil {
		return TokenResponse{}, s.refuseToken(ctx, r, err, nil)
	}
	sess, _ := ar.GetSession().(*Session)
	if sess == nil {
		return TokenResponse{}, s.refuseToken(ctx, r, errors.New("consent: request without a consent session"), nil)
	}
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: reqctx.RequestID(ctx), Correlation: sess.CorrelationID})
	// fosite compares the code's scope with nothing at this endpoint; the client
	// it authenticated is read from the current OCL, which may have taken
	// gegevensdienst 51 away since the code was issued.
	if !ar.GetClient().GetScopes().Has(s.Scope()) {
		return TokenResponse{}, s.refuseToken(ctx, r, fosite.ErrInvalidGrant.WithHint(
			"This client is no longer allowed gegevensdienst "+Gegevensdienst+" on the OAuth Client List."), sess)
	}
	g, err := s.grantOf(ctx, sess.GrantID)
	now := s.now()
	if err != nil || !g.Live(now) {
		return TokenResponse{}, s.refuseToken(ctx, r, fosite.ErrInvalidGrant.WithHint("The consent for this code has ended."), sess)
	}
	sess.TokenID, sess.Thumbprint = uuid.NewString(), peer.Thumbprint
	exp := now.Add(s.cfg.TokenTTL).Truncate(time.Second)
	if g.Expires.Before(exp) {
		exp = g.Expires
	}
	sess.SetExpiresAt(fosite.AccessToken, exp)
	resp, err := s.oauth.NewAccessResponse(ctx, ar)
	if errors.Is(err, errCodeUsed) {
		s.replayedRequest(ctx, ar.GetID(), sess) // lost the race: a replay
	}
	if errors.Is(err, errCodeUsed) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	} else if errors.Is(err, errGrantEnded) {
		err = fosite.ErrInvalidGrant.WithHint("The consent for this code has ended.")
	}
	if err != nil {
		return TokenResponse{}, s.refuseToken(ctx, r, err, sess)
	}
	return TokenResponse{AccessToken: resp.GetAccessToken(), TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(now).Seconds()), Scope: g.Scope}, nil
}

// refuseToken audits a refused token (or revocation) request: failed client
// authentication as client_auth_failed, anything else as token_refused.
func (s *Service) refuseToken(ctx context.Context, r *http.Request, err error, sess *Session) error {
	oe := fromFosite(err)
	oe.JSON = true
	act, reason := audit.ActTokenRefused, oe.Code
	var ce *clientAuthError
	if errors.As(err, &ce) {
		act, reason = audit.ActClientAuthFailed, ce.reason
	}
	oe.Reason = reason
	ev := s.peerEvent(ctx, act, r.PostFormValue("client_id"))
	ev.Outcome, ev.Reason = audit.Failure, reason
	if sess != nil {
		ev.PersonID, ev.ObjectType, ev.ObjectID = sess.Subject, "consent", sess.GrantID
	}
	if _, authenticated := reqctx.PeerFromContext(ctx); !authenticated && !s.admitUnauthenticated(&ev) {
		return oe
	}
	if aerr := s.d.Store.Audit(ctx, ev); aerr != nil {
		return aerr
	}
	return oe
}

// admitUnauthenticated says whether ev, the refusal of a request nobody
// authenticated, is recorded: anyone who reaches the port can send these, so a
// bounded number per source is (Deps.Unauthenticated). The last one recorded in
// a window says until when further ones are not.
func (s *Service) admitUnauthenticated(ev *audit.Event) bool {
	switch v, until := s.d.Unauthenticated.Admit(ev.SourceIP); v {
	case audit.QuotaSkip:
		return false
	case audit.QuotaLast:
		ev.Details[audit.DetailQuota] = until.UTC().Format(time.RFC3339)
	}
	return true
}

// peerEvent is the skeleton of an audit record of a peer request.
func (s *Service) peerEvent(ctx context.Context, a audit.Action, clientID string) audit.Event {
	ids := reqctx.FromContext(ctx)
	ev := audit.Event{Time: s.now(), Action: a, Outcome: audit.Success, ActorType: audit.ActorPeer,
		ActorID: safeClientID(clientID), Role: audit.RoleSource, RequestID: ids.Request, CorrelationID: ids.Correlation,
		Details: map[string]string{"client_id": safeClientID(clientID)}}
	if p, ok := reqctx.PeerFromContext(ctx); ok {
		ev.Details["certificate"] = p.Thumbprint
		ev.Details["certificate_name"] = safeClientID(p.Name)
	}
	if ip, ok := ctx.Value(ipKey{}).(string); ok {
		ev.SourceIP = ip
	}
	return ev
}

type ipKey struct{}

// WithIP returns ctx carrying the client's IP address for the audit records of
// peer requests.
func WithIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// tokenIssuedEvents are the audit records of an issued token, code_redeemed and
// token_issued, written in the token's transaction.
func (s *Service) tokenIssuedEvents(ctx context.Context, sess *Session) []audit.Event {
	evs := make([]audit.Event, 0, 2)
	for _, a := range []audit.Action{audit.ActCodeRedeemed, audit.ActTokenIssued} {
		ev := s.peerEvent(ctx, a, sess.ClientID)
		ev.PersonID, ev.ObjectType, ev.ObjectID = sess.Subject, "consent", sess.GrantID
		if a == audit.ActTokenIssued {
			ev.Details["jti"] = sess.TokenID
		}
		evs = append(evs, ev)
	}
	return evs
}

// replayed handles a code presented again (found used): every token issued from
// it is revoked, its grant ends (revoked), and the attempt is audited.
func (s *Service) replayed(ctx context.Context, c Code) {
	s.replayedRequest(ctx, c.RequestID, &Session{GrantID: c.GrantID})
}

func (s *Service) replayedRequest(ctx context.Context, requestID string, sess *Session) {
	now := s.now()
	// An error here leaves the refusal standing: the tokens are bound to a grant
	// that CheckAccess checks, and fosite revokes by request id as well.
	_ = s.d.Store.InTx(ctx, func(ctx context.Context) error {
		n, err := s.d.Store.RevokeTokens(ctx, requestID, now)
		if err != nil {
			return err
		}
		g, err := s.d.Store.Grant(ctx, sess.GrantID)
		if err != nil {
			return err
		}
		if _, err := s.d.Store.EndGrant(ctx, g.ID, StateRevoked, now); err != nil {
			return err
		}
		ev := s.peerEvent(ctx, audit.ActCodeReplayed, g.ClientID)
		ev.Outcome, ev.Reason = audit.Failure, "code_replayed"
		ev.PersonID, ev.ObjectType, ev.ObjectID = g.AccountID, "consent", g.ID
		ev.CorrelationID = g.CorrelationID
		ev.Details["count_tokens_revoked"] = strconv.Itoa(n)
		return s.d.Store.Audit(ctx, ev)
	})
}

// Revoke answers POST /oauth/revoke (RFC 7009): the client (authenticated as at
// the token endpoint) revokes its token, which ends the grant (state used: our
// target calls it after storing the document). An unknown or already revoked
// token is answered 200 as well (RFC 7009 §2.2). The tokens are revoked only in
// the transaction that ends the grant and writes the record (fosite's own
// revocation is a no-op here: fositeStore.RevokeAccessToken).
func (s *Service) Revoke(ctx context.Context, r *http.Request) error {
	ctx, rv := withRevocation(ctx)
	if err := s.oauth.NewRevocationRequest(ctx, r); err != nil {
		return s.refuseToken(ctx, r, err, nil)
	}
	if r.PostForm.Get("token") == "" { // RFC 7009 §2.1: token is REQUIRED
		return s.refuseToken(ctx, r, fosite.ErrInvalidRequest.WithHint("The token parameter is required."), nil)
	}
	t, err := rv.tokenOf(ctx, s.d.Store, sigBytes(hashOf(r.PostForm.Get("token"))))
	if err != nil || t.ClientID != r.PostForm.Get("client_id") {
		return nil
	}
	now := s.now()
	return s.d.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.d.Store.RevokeGrantTokens(ctx, t.GrantID, now); err != nil {
			return err
		}
		ended, err := s.d.Store.EndGrant(ctx, t.GrantID, StateUsed, now)
		if err != nil || !ended {
			return err
		}
		account, correlation, err := rv.grantFacts(ctx, s.d.Store, t.GrantID)
		if err != nil {
			return err
		}
		ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: reqctx.RequestID(ctx), Correlation: correlation})
		ev := s.peerEvent(ctx, audit.ActTokenRevoked, t.ClientID)
		ev.PersonID, ev.ObjectType, ev.ObjectID = account, "consent", t.GrantID
		ev.Details["jti"] = t.ID
		return s.d.Store.Audit(ctx, ev)
	})
}
