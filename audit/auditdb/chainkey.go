package auditdb

import (
	"sync/atomic"

	"github.com/pgo-koppelvlak/pgo/audit"
)

// Keyring is where the chain keys come from: the vault (vault.Vault), whose
// keyset lives outside the database.
type Keyring interface {
	audit.ChainKeys
	PrimaryChainKey() (id uint32, key []byte, ok bool)
}

type keyring struct {
	keys    audit.ChainKeys
	primary uint32
}

// chainKeys are the process's chain keys, set once at start by UseChainKeys.
// They are package state rather than an argument of Append because Append is
// the one write path every domain store calls inside its own transaction.
var chainKeys atomic.Pointer[keyring]

// UseChainKeys makes Append link new records with HMAC-SHA256 under k's primary
// chain key and Verify check keyed records with k. cmd/pgo calls it once when it
// opens the vault. Without it (or with a vault that has no chain keys) records
// are linked with plain SHA-256, which a database user could recompute after a
// change; pgo serve and pgo worker always set it.
func UseChainKeys(k Keyring) {
	if k == nil {
		chainKeys.Store(nil)
		return
	}
	id, _, ok := k.PrimaryChainKey()
	if !ok {
		chainKeys.Store(nil)
		return
	}
	chainKeys.Store(&keyring{keys: k, primary: id})
}

func keysOf(k *keyring) audit.ChainKeys {
	if k == nil {
		return nil
	}
	return k.keys
}
