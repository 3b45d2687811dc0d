package consent

import (
	"bytes"
	"context"
)

// A revocation request (RFC 7009) reads its token once: fosite's revocation
// handler looks it up by signature (GetAccessTokenSession) to check its client
// and revoke its request's tokens, and Revoke needs the same row for its grant.
// As the token request keeps its code (redemption), the revocation keeps the
// token it found, with the token's stored session: written from the grant when
// the token was issued, it names the grant's account and correlation id, which
// the revocation's audit record needs. Revoke reads the token, or the grant,
// only when fosite's look-up did not give them.

// revocation is the token one revocation request found, and its session (nil
// for a token already revoked, whose request fosite does not decode).
type revocation struct {
	token Token
	sess  *Session
	found bool
}

type revocationKey struct{}

// withRevocation returns ctx with an empty revocation for the request.
func withRevocation(ctx context.Context) (context.Context, *revocation) {
	rv := &revocation{}
	return context.WithValue(ctx, revocationKey{}, rv), rv
}

// revoking reports whether ctx is a revocation request's (withRevocation).
func revoking(ctx context.Context) bool {
	rv, _ := ctx.Value(revocationKey{}).(*revocation)
	return rv != nil
}

// keepToken records the token a revocation request's look-up found (revoked
// or not: Revoke decides) and its session, when ctx is one.
func keepToken(ctx context.Context, t Token, sess *Session) {
	if rv, _ := ctx.Value(revocationKey{}).(*revocation); rv != nil {
		rv.token, rv.sess, rv.found = t, sess, true
	}
}

// tokenOf returns the token of sig: the one the request's lookup found, else
// read now.
func (rv *revocation) tokenOf(ctx context.Context, st Store, sig []byte) (Token, error) {
	if rv.found && bytes.Equal(rv.token.Signature, sig) {
		return rv.token, nil
	}
	return st.Token(ctx, sig)
}

// grantFacts returns the account and correlation id of grant id: from the
// kept token's session when it is that grant's, else from the grant.
func (rv *revocation) grantFacts(ctx context.Context, st Store, id string) (account, correlation string, err error) {
	if rv.sess != nil && rv.sess.GrantID == id && rv.sess.Subject != "" {
		return rv.sess.Subject, rv.sess.CorrelationID, nil
	}
	g, err := st.Grant(ctx, id)
	return g.AccountID, g.CorrelationID, err
}
