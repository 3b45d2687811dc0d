package account

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
)

// Recovery codes replace the second factor once each when the phone is lost
// (ASVS 5.0 V6.6: single use, at least 20 bits of entropy, stored with a
// password hash since they have fewer than 112 bits).
const (
	recoveryCount = 10
	recoveryLen   = 10 // base32 characters: 50 bits
)

// NewRecoveryCodes returns fresh codes as shown to the user ("ABCDE-FGHIJ").
func NewRecoveryCodes() ([]string, error) {
	codes := make([]string, recoveryCount)
	raw := make([]byte, recoveryLen)
	for i := range codes {
		if _, err := rand.Read(raw); err != nil {
			return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
		}
		var b strings.Builder
		for j, c := range raw {
			if j == recoveryLen/2 {
				b.WriteByte('-')
			}
			b.WriteByte("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[c&31])
		}
		codes[i] = b.String()
	}
	return codes, nil
}

// HashRecoveryCode hashes a code with argon2id (its own random salt, the
// password parameters) after normalising case, spaces and dashes, so that
// "abcde fghij" matches "ABCDE-FGHIJ". A code has 50 bits: stored as a plain
// SHA-256 a database dump would give it up in hours (issue 15, finding 2; ASVS
// 5.0 V6.6.3: a lookup secret under 112 bits needs a password hash).
func HashRecoveryCode(code string, p Argon2Params) ([]byte, error) {
	h, err := hashSecret(normalizeRecoveryCode(code), p)
	return []byte(h), err
}

func normalizeRecoveryCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// hashRecoveryCodes hashes fresh codes for storage.
func hashRecoveryCodes(codes []string, p Argon2Params) ([][]byte, error) {
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		h, err := HashRecoveryCode(c, p)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return hashes, nil
}

// matchRecoveryCode returns the stored hash among an account's unused ones that
// code matches, nil when none does. Hashes written before argon2id (a SHA-256
// over the account id and the code) still match, so codes already handed out
// keep working until the next enrolment replaces them.
func matchRecoveryCode(stored [][]byte, accountID, code string) []byte {
	c := normalizeRecoveryCode(code)
	legacy := sha256.Sum256([]byte("pgo-recovery\x00" + accountID + "\x00" + c))
	for _, h := range stored {
		if !bytes.HasPrefix(h, []byte("$argon2id$")) {
			if subtle.ConstantTimeCompare(h, legacy[:]) == 1 {
				return h
			}
			continue
		}
		if ok, err := verifySecret(string(h), c); err == nil && ok {
			return h
		}
	}
	return nil
}

// looksLikeRecoveryCode tells a recovery code from a 6-digit TOTP code.
func looksLikeRecoveryCode(code string) bool {
	c := strings.NewReplacer("-", "", " ", "").Replace(code)
	return len(c) == recoveryLen
}

// isRecoveryCode is how checkCode and codeSlot tell a submitted code: the same
// test, so that every recovery-code check holds a hash slot.
func isRecoveryCode(code string) bool {
	return looksLikeRecoveryCode(strings.TrimSpace(code))
}
