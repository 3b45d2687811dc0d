package account

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
)

// Recovery codes replace the second factor once each when the phone is lost
// (ASVS 5.0 V6.5: single use, at least 20 bits of entropy, stored hashed).
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

// HashRecoveryCode hashes a code with the account id as salt, after normalising
// case, spaces and dashes so that "abcde fghij" matches "ABCDE-FGHIJ".
func HashRecoveryCode(accountID, code string) []byte {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	h := sha256.Sum256([]byte("pgo-recovery\x00" + accountID + "\x00" + c))
	return h[:]
}

// looksLikeRecoveryCode tells a recovery code from a 6-digit TOTP code.
func looksLikeRecoveryCode(code string) bool {
	c := strings.NewReplacer("-", "", " ", "").Replace(code)
	return len(c) == recoveryLen
}
