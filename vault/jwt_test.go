package vault

import (
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// SignJWT writes what go-jose's signer wrote (same protected header bytes, same
// payload encoding), its signature verifies with go-jose against the key's public
// half and no other key, and it is safe for concurrent use.
func TestSignJWTAsJose(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	claims := []byte(`{"iss":"https://noord.localhost","jti":"x"}`)
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	want, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, typ := range []string{"at+jwt", "checkpoint+jwt"} {
				got, err := k.SignJWT(claims, typ)
				if err != nil {
					t.Error(err)
					return
				}
				parts, wparts := strings.Split(got, "."), strings.Split(want, ".")
				if typ == "at+jwt" && (parts[0] != wparts[0] || parts[1] != wparts[1]) {
					t.Errorf("header.payload %s.%s; go-jose wrote %s.%s", parts[0], parts[1], wparts[0], wparts[1])
				}
				jws, err := jose.ParseSignedCompact(got, []jose.SignatureAlgorithm{jose.ES256})
				if err != nil {
					t.Error(err)
					return
				}
				if h := jws.Signatures[0].Protected; h.KeyID != k.kid || h.ExtraHeaders[jose.HeaderType] != typ {
					t.Errorf("header kid %q typ %v", h.KeyID, h.ExtraHeaders[jose.HeaderType])
				}
				if b, err := jws.Verify(&k.priv.PublicKey); err != nil || string(b) != string(claims) {
					t.Errorf("verify: %q, %v", b, err)
				}
				if _, err := jws.Verify(&other.priv.PublicKey); err == nil {
					t.Error("verified with another key")
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkSignJWT: one RFC 9068 access token's signature (the token endpoint
// signs one per request).
func BenchmarkSignJWT(b *testing.B) {
	k, err := GenerateSigningKey()
	if err != nil {
		b.Fatal(err)
	}
	claims := []byte(`{"iss":"https://noord.localhost","sub":"0b5e8f9e-2d6a-4f0e-9b43-8f1d2c3a4b5c","aud":"https://noord.localhost/fhir","client_id":"zuid.localhost","scope":"noord~51","jti":"4a4f1f8e-0c2b-4d8e-a1a4-3b5f0e2c9d7a","iat":1764700000,"exp":1764700900,"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},"grant_id":"9c7a3e1b-5d2f-4a8e-b6c4-1e0f9a8b7c6d"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SignJWT(claims, "at+jwt"); err != nil {
			b.Fatal(err)
		}
	}
}
