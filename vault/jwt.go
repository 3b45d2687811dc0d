package vault

import (
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// SignJWT returns the compact JWS of claims with the JOSE header "typ" set to typ
// (e.g. "at+jwt" for RFC 9068 access tokens, so a token of one kind cannot be
// passed off as another), ES256 and the key id.
func (k *SigningKey) SignJWT(claims []byte, typ string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	obj, err := s.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return obj.CompactSerialize()
}
