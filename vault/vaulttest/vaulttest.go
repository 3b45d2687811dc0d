// Package vaulttest gives tests a real vault on a keyset of their own, so sealed
// data in tests is sealed exactly as in production.
package vaulttest

import (
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
