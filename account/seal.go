package account

import (
	"github.com/pgo-koppelvlak/pgo"
)

// Sealer encrypts the TOTP seeds at rest (vault.Vault in production), bound to an
// object id. RFC 6238 is symmetric: whoever reads a seed can mint codes, so a seed
// is never stored in the clear; a database dump alone then yields no second factor
// (OWASP ASVS 5.0 V6.5.5 and V11.1; NEN 7510-2 A.10).
type Sealer interface {
	Seal(objectID string, plaintext []byte) ([]byte, error)
	Open(objectID string, ciphertext []byte) ([]byte, error)
}

// TOTPObjectID is the vault object id of account id's active TOTP seed, and
// PendingTOTPObjectID that of its pending one (enrolment). Binding the ciphertext to
// the account and the field means a sealed seed copied to another account's row, or
// from the pending field to the active one, does not open.
func TOTPObjectID(accountID string) string { return "account/" + accountID + "/totp" }

// PendingTOTPObjectID: see TOTPObjectID.
func PendingTOTPObjectID(accountID string) string { return "account/" + accountID + "/totp-pending" }

// errSeed is what a seed that does not open becomes: an internal error for the log
// (a damaged row, a key missing from the keyset, or a ciphertext moved between
// rows). The caller sees no detail, and no code is accepted.
func errSeed(err error) error {
	return pgo.Wrap(pgo.EINTERNAL, err, "the second factor of this account cannot be checked; ask the operator")
}

func (s *Service) sealSeed(objectID string, seed []byte) ([]byte, error) {
	ct, err := s.sealer.Seal(objectID, seed)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return ct, nil
}

// openSeed opens a sealed seed; an empty one is refused too, as HMAC with an empty
// key would accept codes anybody can compute.
func (s *Service) openSeed(objectID string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errSeed(pgo.Errorf(pgo.EINTERNAL, "no sealed TOTP seed stored"))
	}
	seed, err := s.sealer.Open(objectID, sealed)
	if err != nil {
		return nil, errSeed(err)
	}
	if len(seed) == 0 {
		return nil, errSeed(pgo.Errorf(pgo.EINTERNAL, "sealed TOTP seed is empty"))
	}
	return seed, nil
}
