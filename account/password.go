package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/pgo-koppelvlak/pgo"
)

// Argon2Params are the argon2id cost parameters (RFC 9106 §4; OWASP ASVS 5.0 V6.2:
// at least 19 MiB memory, 2 passes, 1 lane). They come from PGO_ARGON2_*.
type Argon2Params struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

const (
	saltLen       = 16
	keyLen        = 32
	minPassword   = 12  // ASVS 5.0 V6.2.1: at least 8; we ask 12 for patients' health data
	maxPassword   = 128 // bounds the hashing cost an attacker can cause
	argon2Version = argon2.Version
)

var b64 = base64.RawStdEncoding

// HashPassword returns an argon2id PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) with a fresh random salt.
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	return hashSecret(password, p)
}

// hashSecret is argon2id over secret with a fresh salt, as a PHC string.
func hashSecret(secret string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrPasswordTooShort and ErrPasswordTooLong are CheckPassword's answers: the
// same rules for a new account and for a changed password (ASVS 5.0 V6.2.1,
// V6.2.9), each with its translation key so a page can show it at the field.
var (
	ErrPasswordTooShort = pgo.NewError(pgo.EINVALID, "password.too_short",
		fmt.Sprintf("password: at least %d characters are needed", minPassword))
	ErrPasswordTooLong = pgo.NewError(pgo.EINVALID, "password.too_long",
		fmt.Sprintf("password: at most %d bytes are allowed", maxPassword))
)

// CheckPassword enforces the length rules (ASVS 5.0 V6.2.1, V6.2.9); it never echoes
// the password.
func CheckPassword(password string) error {
	n := len([]rune(password))
	switch {
	case n < minPassword:
		return ErrPasswordTooShort
	case len(password) > maxPassword:
		return ErrPasswordTooLong
	}
	return nil
}

// VerifyPassword checks password against a PHC string made by HashPassword, in
// constant time over the derived key. The parameters are read from the string, so
// hashes made with older settings keep working.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > maxPassword {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifySecret checks secret against a PHC string made by hashSecret.
func verifySecret(encoded, secret string) (bool, error) {
	p, salt, want, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	bad := func(what string) error {
		return pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("password hash: %s", what), "")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2Version {
		return p, nil, nil, bad("unsupported version")
	}
	var m, t uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || m == 0 || t == 0 || th == 0 {
		return p, nil, nil, bad("bad parameters")
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, bad("bad salt or key")
	}
	return Argon2Params{Time: t, MemoryKiB: m, Threads: th}, salt, key, nil
}
