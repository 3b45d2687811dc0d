package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSigningKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.pem")
	k, err := WriteSigningKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if _, err := WriteSigningKeyFile(path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second write = %v, want a refusal", err)
	}
	loaded, err := LoadSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.KeyID() != k.KeyID() {
		t.Fatalf("kid after load %q, want %q", loaded.KeyID(), k.KeyID())
	}
	jws, err := k.Sign([]byte(`{"seq":1}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := loaded.Verify(jws)
	if err != nil || string(got) != `{"seq":1}` {
		t.Fatalf("Verify = %q, %v", got, err)
	}
}

// The kid is the RFC 7638 thumbprint: SHA-256 over {"crv","kty","x","y"} in that order.
func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.PublicJWKSJSON()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	j := set.Keys[0]
	if j["kid"] != k.KeyID() || j["alg"] != "ES256" || j["use"] != "sig" || j["d"] != "" {
		t.Fatalf("public JWK = %v", j)
	}
	canon := `{"crv":"P-256","kty":"EC","x":"` + j["x"] + `","y":"` + j["y"] + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.KeyID() != want {
		t.Fatalf("kid %q, want thumbprint %q", k.KeyID(), want)
	}
}

func TestVerifyRejects(t *testing.T) {
	k, _ := GenerateSigningKey()
	other, _ := GenerateSigningKey()
	jws, err := k.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jws, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("other payload")) + "." + parts[2]
	otherJWS, _ := other.Sign([]byte("payload"))
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + k.KeyID() + `"}`))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
	cases := map[string]string{
		"changed payload": forged,
		"other key":       otherJWS,
		"hs256":           hs + "." + parts[1] + "." + parts[2],
		"alg none":        none + "." + parts[1] + ".",
		"garbage":         "not-a-jws",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Verify(in); err == nil {
				t.Fatal("verified, want an error")
			}
		})
	}
}

func TestLoadSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	cases := []struct{ name, path, want string }{
		{"not configured", "", "PGO_SIGNING_KEY is not set"},
		{"missing file", filepath.Join(dir, "nope.pem"), "does not exist"},
		{"not pem", write("text.pem", []byte("hello")), "no PEM block"},
		{"wrong block", write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), `"CERTIFICATE" PEM block`},
		{"broken der", write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})), "not a readable private key"},
		{"rsa", write("rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})), "not an ECDSA P-256 key"},
		{"p384", write("p384.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER})), "not an ECDSA P-256 key"},
	}
	// A key others can read lets them sign checkpoints over a rewritten chain.
	p256k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256DER, _ := x509.MarshalPKCS8PrivateKey(p256k)
	open := write("open.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p256DER}))
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct{ name, path, want string }{"readable by others", open, "mode 0644 lets group or others"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadSigningKey(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadSigningKey = %v, want %q", err, c.want)
			}
		})
	}
	// SEC 1 files (openssl ecparam -genkey) are accepted too.
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	if _, err := LoadSigningKey(write("sec1.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))); err != nil {
		t.Fatalf("SEC 1 key: %v", err)
	}
}
