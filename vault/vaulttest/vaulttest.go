// Package vaulttest gives tests a real vault on a keyset of their own, so sealed
// data in tests is sealed exactly as in production.
package vaulttest

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/pgo-koppelvlak/pgo/vault"
)

// Keyset creates a new keyset file in a temporary directory of t and returns its
// path (for PGO_KEYSET_FILE, or for rotating it).
func Keyset(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := vault.CreateKeyset(path); err != nil {
		t.Fatalf("vaulttest: create keyset: %v", err)
	}
	return path
}

// New opens a vault on a new keyset and returns it with the keyset's path.
func New(t testing.TB) (*vault.Vault, string) {
	t.Helper()
	path := Keyset(t)
	v, err := vault.Open(path)
	if err != nil {
		t.Fatalf("vaulttest: open keyset: %v", err)
	}
	return v, path
}

// SealStream seals the pieces of plaintext as one vault stream for id, as
// export.StreamSeal would without the document's declaration (or with one a
// test makes up): a document sealed before documents declared themselves.
func SealStream(t testing.TB, v *vault.Vault, id string, plaintext ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := v.SealWriter(&buf, id)
	for _, p := range plaintext {
		if err == nil {
			_, err = w.Write(p)
		}
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatalf("vaulttest: seal stream: %v", err)
	}
	return buf.Bytes()
}
