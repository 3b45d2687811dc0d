package consent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// fuzzKey is one signing key for the fuzzing process and its workers (each
// worker runs the target again, so a key of its own would make every seed's
// signature fail): a file in the temporary directory, made once.
func fuzzKey(f *testing.F) *vault.SigningKey {
	path := filepath.Join(os.TempDir(), "pgo-fuzz-signing-key-"+strconv.Itoa(os.Getuid())+".pem")
	k, err := vault.LoadSigningKey(path)
	if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
		if k, err = vault.WriteSigningKeyFile(path); err != nil {
			k, err = vault.LoadSigningKey(path) // another process made it first
		}
	}
	if err != nil {
		f.Fatal(err)
	}
	return k
}

// FuzzAccessToken: the access-token check (RFC 9068, ES256, typ at+jwt, our key,
// iss, aud, exp) accepts only what our key signed, with exactly the signed
// header and claims; every refusal is EUNAUTHORIZED with a message for the
// caller and a reason for the audit log.
func FuzzAccessToken(f *testing.F) {
	key := fuzzKey(f)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	svc, err := New(Config{Issuer: "https://noord.localhost:8443", ProviderName: "noord"},
		Deps{Store: nilStore{}, Lists: nilLists{}, Dossier: nilDossier{}, Exports: nilExports{}, Signer: key,
			Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	sign := func(c claims, typ string) {
		b, _ := json.Marshal(c)
		tok, err := key.SignJWT(b, typ)
		if err != nil {
			f.Fatal(err)
		}
		signed[tok[:strings.LastIndex(tok, ".")]] = true
		f.Add(tok)
	}
	good := claims{Issuer: svc.Issuer(), Subject: "acc-1", Audience: svc.Audience(), ClientID: "zuid.localhost",
		Scope: svc.Scope(), ID: "6f1c6a7e-2f7b-4c43-9d51-0c6b2b9b8f00", IssuedAt: now.Unix(), Expiry: now.Add(15 * time.Minute).Unix(),
		Cnf: map[string]string{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, GrantID: "g-1"}
	sign(good, TokenType)
	sign(good, "JWT")
	expired, other := good, good
	expired.Expiry = now.Unix()
	other.Audience = "https://zuid.localhost/51/fhir"
	sign(expired, TokenType)
	sign(other, TokenType)
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := svc.verifyAccessToken(token)
		if err != nil {
			var pe *pgo.Error
			if !errors.As(err, &pe) || pe.Code != pgo.EUNAUTHORIZED || pe.Message == "" || pe.Err == nil || pe.Err.Error() == "" {
				t.Fatalf("refusal is not a precise EUNAUTHORIZED: %#v", err)
			}
			return
		}
		if i := strings.LastIndex(token, "."); i < 0 || !signed[token[:i]] {
			t.Fatalf("accepted a token our key did not sign: %q", token)
		}
		if c.Issuer != svc.Issuer() || c.Audience != svc.Audience() || c.Expiry <= now.Unix() {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}
