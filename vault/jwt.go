package vault

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// SignJWT returns the compact JWS of claims with the JOSE header "typ" set to typ
// (e.g. "at+jwt" for RFC 9068 access tokens, so a token of one kind cannot be
// passed off as another), ES256 and the key id.
//
// The protected header is the same for every token of a type, so it is encoded
// once per type (jwsHeader) and the signature is computed directly (RFC 7515
// §5.1, RFC 7518 §3.4: base64url of R || S, 32 bytes each); the bytes are those
// go-jose's signer produced, without building a signer and marshalling the
// header per token (issue 16). TestSignJWTAsJose checks the two agree and that
// go-jose verifies the result.
func (k *SigningKey) SignJWT(claims []byte, typ string) (string, error) {
	head := k.jwsHeader(typ)
	enc := base64.RawURLEncoding
	var sb strings.Builder
	sb.Grow(len(head) + 1 + enc.EncodedLen(len(claims)) + 1 + enc.EncodedLen(64))
	sb.WriteString(head)
	sb.WriteByte('.')
	buf := make([]byte, enc.EncodedLen(len(claims)))
	enc.Encode(buf, claims)
	sb.Write(buf)
	digest := sha256.Sum256([]byte(sb.String()))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	sb.WriteByte('.')
	sb.WriteString(enc.EncodeToString(sig[:]))
	return sb.String(), nil
}

// jwsHeader is the base64url of the protected header {"alg":"ES256","kid":..,
// "typ":typ}, keys in go-jose's (sorted) order, made once per type.
func (k *SigningKey) jwsHeader(typ string) string {
	if h, ok := k.headers.Load(typ); ok {
		return h.(string)
	}
	b, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": k.kid, "typ": typ}) // strings only
	h := base64.RawURLEncoding.EncodeToString(b)
	k.headers.Store(typ, h)
	return h
}
