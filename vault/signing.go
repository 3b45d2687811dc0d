package vault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningKey is the instance's ECDSA P-256 key for compact JWS with ES256 (RFC 7515,
// RFC 7518 section 3.4). It signs the audit chain checkpoints; its public half is
// published as a JWKS (RFC 7517) so that an auditor can check them without the
// private key. The key id is the RFC 7638 JWK thumbprint (SHA-256, base64url), so it
// is derived from the key itself and the same everywhere.
type SigningKey struct {
	priv    *ecdsa.PrivateKey
	kid     string
	headers sync.Map // typ -> encoded JWS header (jwt.go)
}

// GenerateSigningKey creates a new P-256 key.
func GenerateSigningKey() (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: generate: %w", err)
	}
	return newSigningKey(priv)
}

func newSigningKey(priv *ecdsa.PrivateKey) (*SigningKey, error) {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing key: thumbprint: %w", err)
	}
	return &SigningKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// WriteSigningKeyFile generates a key and writes it as a PKCS #8 PEM file with mode
// 0600. It refuses to overwrite an existing file: replacing the key silently would
// make every earlier checkpoint unverifiable.
func WriteSigningKeyFile(path string) (*SigningKey, error) {
	k, err := GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("signing key: encode: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("signing key file %s already exists; refusing to overwrite it (earlier checkpoints need the old key)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return k, nil
}

// LoadSigningKey reads a P-256 private key from a PEM file (PKCS #8 "PRIVATE KEY" or
// SEC 1 "EC PRIVATE KEY"), as configured in PGO_SIGNING_KEY. The error says which
// of: not configured, missing file, open to group or others, not PEM, not an ECDSA
// P-256 key.
func LoadSigningKey(path string) (*SigningKey, error) {
	if path == "" {
		return nil, errors.New("PGO_SIGNING_KEY is not set; create a key with 'pgo keys signing-key --out FILE' and point PGO_SIGNING_KEY at it")
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s does not exist; create it with 'pgo keys signing-key --out %s'", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %w", err)
	}
	// Whoever reads the key can sign a checkpoint over a rewritten chain, which is
	// what checkpoints exist to rule out: refuse it like the keyset (keyset.go).
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s: mode %04o lets group or others at the key; run `chmod 600 %s`", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s holds a %q PEM block, want PRIVATE KEY or EC PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s: not a readable private key", path)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("PGO_SIGNING_KEY: %s is not an ECDSA P-256 key (ES256 needs P-256)", path)
	}
	return newSigningKey(priv)
}

// KeyID is the RFC 7638 thumbprint, put in the "kid" header of every JWS.
func (k *SigningKey) KeyID() string { return k.kid }

// Sign returns the compact JWS (RFC 7515 section 7.1) of payload, ES256, with the
// key id in the protected header.
func (k *SigningKey) Sign(payload []byte) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, nil)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return obj.CompactSerialize()
}

// Verify checks a compact JWS made by this key (ES256 only, matching kid) and
// returns its payload.
func (k *SigningKey) Verify(jws string) ([]byte, error) {
	return VerifyJWS(k.PublicJWKS(), jws)
}

// PublicJWK is the public key as a JWK with kid, alg and use.
func (k *SigningKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}
}

// PublicJWKS is the key set to publish (and to hand an auditor with the checkpoints).
func (k *SigningKey) PublicJWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}}
}

// PublicJWKSJSON is PublicJWKS serialized (RFC 7517 section 5).
func (k *SigningKey) PublicJWKSJSON() ([]byte, error) { return json.Marshal(k.PublicJWKS()) }

// VerifyJWS checks a compact ES256 JWS against the key in set named by its kid and
// returns the payload. Any other algorithm, an unknown kid or a bad signature fails.
func VerifyJWS(set jose.JSONWebKeySet, jws string) ([]byte, error) {
	obj, err := jose.ParseSignedCompact(jws, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("jws: not a compact ES256 JWS")
	}
	if len(obj.Signatures) != 1 {
		return nil, fmt.Errorf("jws: want exactly one signature")
	}
	kid := obj.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		return nil, fmt.Errorf("jws: signed with key id %q, which is not in the key set", kid)
	}
	payload, err := obj.Verify(keys[0].Key)
	if err != nil {
		return nil, fmt.Errorf("jws: signature does not verify with key %q", kid)
	}
	return payload, nil
}
