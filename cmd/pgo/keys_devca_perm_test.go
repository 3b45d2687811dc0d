package main

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFileMode must not write key material through a file or symlink that already
// sits at a predictable temporary name (someone else's file in a shared directory):
// the key would land where they can read it before any chmod.
func TestWriteFileModeIgnoresPlantedTempFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "someone-elses-file")
	if err := os.WriteFile(victim, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "server.key")
	if err := os.Symlink(victim, key+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := writeFileMode(key, []byte("PRIVATE KEY MATERIAL"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "theirs" {
		t.Fatalf("key material written through the planted symlink: %q", b)
	}
	st, err := os.Lstat(key)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(key); string(b) != "PRIVATE KEY MATERIAL" {
		t.Fatalf("key file holds %q", b)
	}
	// An existing file with a wider mode is replaced by one with the asked mode.
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileMode(key, []byte("NEW"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after rewrite", st.Mode())
	}
}
