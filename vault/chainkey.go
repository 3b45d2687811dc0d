package vault

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// chainKeyInfo separates the audit chain's MAC keys from every other use of the
// keyset's keys (HKDF info, RFC 5869 §3.2). Never change it: old records would no
// longer verify.
const chainKeyInfo = "pgo audit chain hmac-sha256 v1"

// ChainKey returns the 32-byte HMAC key of the audit chain that belongs to the
// keyset key id, derived with HKDF-SHA256 from that key. It lives only in
// memory and in the keyset file, never in the database, so a database user who
// rewrites audit rows cannot recompute their MACs (issue 15). Each record names
// the key id it was linked with, so records written before a rotation still
// verify while the old key is in the keyset.
func (v *Vault) ChainKey(id uint32) ([]byte, error) {
	k, ok := v.chainKeys[id]
	if !ok {
		return nil, fmt.Errorf("vault: no audit chain key for keyset key %d (not in this keyset, or the vault is KMS-backed)", id)
	}
	return k, nil
}

// PrimaryChainKey is the chain key of the primary keyset key: the one new audit
// records are linked with. ok is false when the vault has no chain keys (a
// KMS-backed vault made with New).
func (v *Vault) PrimaryChainKey() (id uint32, key []byte, ok bool) {
	key, ok = v.chainKeys[v.kekID]
	return v.kekID, key, ok
}

// deriveChainKeys derives a chain key for every AES-GCM key of h.
func deriveChainKeys(h *keyset.Handle) (map[uint32][]byte, error) {
	out := map[uint32][]byte{}
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			return nil, err
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			continue
		}
		secret := k.KeyBytes().Data(insecuresecretdataaccess.Token{})
		ck, err := hkdf.Key(sha256.New, secret, nil, chainKeyInfo, 32)
		clear(secret)
		if err != nil {
			return nil, err
		}
		out[e.KeyID()] = ck
	}
	return out, nil
}
