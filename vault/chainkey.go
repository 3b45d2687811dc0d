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

// refKeyInfo separates the dossier's ref key HMAC keys (RefKeys) from the chain
// keys and the data keys. Never change it: stored rows would no longer be found.
const refKeyInfo = "pgo dossier ref key hmac-sha256 v1"

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

// RefKeys returns the HMAC keys of the dossier's ref keys (dossier.RefKey) per
// keyset key id, and the id of the primary key, whose key new rows are keyed
// with. Like the chain keys they are derived with HKDF-SHA256 (RFC 5869) from
// the keyset's AES keys, with their own info string, and never leave memory: a
// dump of the database alone cannot recover a FHIR id (a BSN used as an id)
// from its ref key by enumeration (issue 15). Every key is returned so that rows
// keyed before a rotation are still found; the rewrap task re-keys them. The
// map is empty for a KMS-backed vault (New). The caller must not modify it.
func (v *Vault) RefKeys() (primary uint32, keys map[uint32][]byte) {
	return v.kekID, v.refKeys
}

// deriveChainKeys derives a chain key for every AES-GCM key of h.
func deriveChainKeys(h *keyset.Handle) (map[uint32][]byte, error) {
	return deriveKeys(h, chainKeyInfo)
}

// deriveKeys derives a 32-byte key with HKDF info for every AES-GCM key of h.
func deriveKeys(h *keyset.Handle, info string) (map[uint32][]byte, error) {
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
		ck, err := hkdf.Key(sha256.New, secret, nil, info, 32)
		clear(secret)
		if err != nil {
			return nil, err
		}
		out[e.KeyID()] = ck
	}
	return out, nil
}
