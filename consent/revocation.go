package consent

import (
	"bytes"
	"context"
)

// A revocation request (RFC 7009) reads its token once: fosite's revocation
// handler looks it up by signature (GetAccessTokenSession) to check its client
// and revoke its request's tokens, and Revoke needs the same row for its grant.
// As the token request keeps its code (redemption), the revocation keeps the
// token it found; Revoke reads it again only when fosite did not look it up.

// revocation is the token one revocation request found.
type revocation struct {
	token Token
	found bool
}

type revocationKey struct{}

// withRevocation returns ctx with an empty revocation for the request.
func withRevocation(ctx context.Context) (context.Context, *revocation) {
	rv := &revocation{}
	return context.WithValue(ctx, revocationKey{}, rv), rv
}

// keepToken records the token a revocation request's lookup found (revoked
// or not: Revoke decides), when ctx is one.
func keepToken(ctx context.Context, t Token) {
	if rv, _ := ctx.Value(revocationKey{}).(*revocation); rv != nil {
		rv.token, rv.found = t, true
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
