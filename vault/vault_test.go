package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// newKeyset creates a keyset file in a temp dir and returns its path and a Vault on it.
func newKeyset(t testing.TB, opts ...Option) (string, *Vault) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := CreateKeyset(path, opts...); err != nil {
		t.Fatalf("CreateKeyset: %v", err)
	}
	v, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return path, v
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	tests := []struct {
		name, id string
		plain    []byte
	}{
		{"empty", "doc-1", nil},
		{"one byte", "doc-2", []byte{0}},
		{"name and BSN", "patient/7f3a", []byte(`{"name":"Jürgen de Vries","bsn":"999911120"}`)},
		{"1 MiB", "export:0192", bytes.Repeat([]byte("%PDF-1.7 "), 1<<20/9)},
		{"unicode id", "dossier/ë/ß", []byte("Allergie: penicilline")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := v.Seal(tt.id, tt.plain)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tt.plain) > 8 && bytes.Contains(ct, tt.plain[:8]) {
				t.Fatalf("ciphertext contains plaintext bytes")
			}
			got, err := v.Open(tt.id, ct)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plain) {
				t.Fatalf("Open = %d bytes, want %d bytes equal to the plaintext", len(got), len(tt.plain))
			}
			if id, err := KeyID(ct); err != nil || id != v.PrimaryKeyID() {
				t.Fatalf("KeyID = %d, %v; want primary %d", id, err, v.PrimaryKeyID())
			}
		})
	}
}

func TestSealUsesFreshDataKey(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	a, _ := v.Seal("doc", []byte("same plaintext"))
	b, _ := v.Seal("doc", []byte("same plaintext"))
	wa, wb := a[HeaderPrefixSize:], b[HeaderPrefixSize:]
	n := int(binary.BigEndian.Uint16(a[5:7]))
	if bytes.Equal(wa[:n], wb[:n]) {
		t.Fatal("two Seal calls produced the same wrapped data key")
	}
	if bytes.Equal(a, b) {
		t.Fatal("two Seal calls produced the same ciphertext")
	}
}

func TestOpenWrongObjectID(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	ct, err := v.Seal("row-1", []byte("Medicatie: metformine 500 mg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"row-2", "row-1 ", "Row-1", "row-"} {
		if _, err := v.Open(id, ct); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(%q) error = %v, want ErrDecrypt", id, err)
		}
	}
	if _, err := v.Open("", ct); err == nil || !strings.Contains(err.Error(), "object id is empty") {
		t.Errorf("Open with empty id: %v, want 'object id is empty'", err)
	}
	if _, err := v.Seal("", []byte("x")); err == nil || !strings.Contains(err.Error(), "object id is empty") {
		t.Errorf("Seal with empty id: %v, want 'object id is empty'", err)
	}
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	ct, err := v.Seal("doc-9", bytes.Repeat([]byte("uitslag "), 100))
	if err != nil {
		t.Fatal(err)
	}
	wrapped := int(binary.BigEndian.Uint16(ct[5:7]))
	payload := HeaderPrefixSize + wrapped
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0x01; return b }
	}
	tests := []struct {
		name   string
		change func([]byte) []byte
	}{
		{"format byte", flip(0)},
		{"format is stream", func(b []byte) []byte { b[0] = formatStream; return b }},
		{"key id", flip(4)},
		{"wrapped length", flip(6)},
		{"zero wrapped length", func(b []byte) []byte { b[5], b[6] = 0, 0; return b }},
		{"wrapped key prefix", flip(HeaderPrefixSize + 1)},
		{"wrapped key body", flip(HeaderPrefixSize + wrapped - 1)},
		{"payload nonce", flip(payload)},
		{"payload body", flip(payload + 20)},
		{"payload tag", flip(len(ct) - 1)},
		{"truncated tag", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated header", func(b []byte) []byte { return b[:HeaderPrefixSize+3] }},
		{"only prefix", func(b []byte) []byte { return b[:3] }},
		{"appended byte", func(b []byte) []byte { return append(b, 0) }},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.change(bytes.Clone(ct))
			if _, err := v.Open("doc-9", bad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open error = %v, want ErrDecrypt", err)
			}
			if _, err := v.Rewrap("doc-9", bad); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Rewrap error = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want uint32
		ok   bool
	}{
		{"blob", []byte{formatBlob, 0, 0, 1, 2, 0, 1}, 258, true},
		{"stream", []byte{formatStream, 0xff, 0xff, 0xff, 0xff, 0, 1, 9}, 0xffffffff, true},
		{"short", []byte{formatBlob, 0, 0}, 0, false},
		{"unknown format", []byte{0x25, 'P', 'D', 'F', '-', '1', '.'}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyID(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("KeyID = %d, %v; want %d, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	path, v1 := newKeyset(t)
	oldID := v1.PrimaryKeyID()
	old, err := v1.Seal("doc-old", []byte("oude brief"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := RotateKeyset(path)
	if err != nil {
		t.Fatalf("RotateKeyset: %v", err)
	}
	if rotated.ID == oldID || !rotated.Primary {
		t.Fatalf("rotate gave %+v; want a new primary key, not %d", rotated, oldID)
	}
	v2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if v2.PrimaryKeyID() != rotated.ID {
		t.Fatalf("primary after rotate = %d, want %d", v2.PrimaryKeyID(), rotated.ID)
	}
	// Old data stays readable.
	if got, err := v2.Open("doc-old", old); err != nil || string(got) != "oude brief" {
		t.Fatalf("old ciphertext after rotate: %q, %v", got, err)
	}
	// New writes use the new key: its id is in the ciphertext prefix.
	fresh, err := v2.Seal("doc-new", []byte("nieuwe brief"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(fresh); id != rotated.ID {
		t.Fatalf("new ciphertext key id = %d, want %d", id, rotated.ID)
	}
	if id, _ := KeyID(old); id != oldID {
		t.Fatalf("old ciphertext key id = %d, want %d", id, oldID)
	}
	if !v2.NeedsRewrap(old) || v2.NeedsRewrap(fresh) || v2.NeedsRewrap([]byte("%PDF-1.7")) {
		t.Fatal("NeedsRewrap: want true for old, false for new and for non-vault bytes")
	}
	// A process still on the old keyset cannot read the new key's objects.
	if _, err := v1.Open("doc-new", fresh); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("old keyset opened a new-key ciphertext: %v", err)
	}
	checkRewrap(t, v2, old, rotated.ID)
	infos, err := ReadKeysetInfo(path)
	if err != nil || len(infos) != 2 {
		t.Fatalf("ReadKeysetInfo = %+v, %v; want 2 keys", infos, err)
	}
	for _, k := range infos {
		if k.Primary != (k.ID == rotated.ID) || k.Status != "enabled" || k.Type != "AES256_GCM" {
			t.Errorf("key info %+v is wrong (primary should be %d)", k, rotated.ID)
		}
	}
}

func checkRewrap(t *testing.T, v *Vault, old []byte, newID uint32) {
	t.Helper()
	moved, err := v.Rewrap("doc-old", old)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if id, _ := KeyID(moved); id != newID || v.NeedsRewrap(moved) {
		t.Fatalf("rewrapped key id = %d, want %d", id, newID)
	}
	if got, err := v.Open("doc-old", moved); err != nil || string(got) != "oude brief" {
		t.Fatalf("Open after Rewrap: %q, %v", got, err)
	}
	oldPayload := old[HeaderPrefixSize+int(binary.BigEndian.Uint16(old[5:7])):]
	if !bytes.HasSuffix(moved, oldPayload) {
		t.Fatal("Rewrap changed the payload; only the data key should be re-wrapped")
	}
	if _, err := v.Rewrap("doc-other", old); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Rewrap with the wrong object id: %v, want ErrDecrypt", err)
	}
}
