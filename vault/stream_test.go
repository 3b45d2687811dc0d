package vault

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// pseudoRandom returns n reproducible bytes (not compressible, unlike a repeat).
func pseudoRandom(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// sealStream encrypts plain in uneven chunks, the way a renderer writes.
func sealStream(t testing.TB, v *Vault, id string, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := v.SealWriter(&out, id)
	if err != nil {
		t.Fatalf("SealWriter: %v", err)
	}
	for rest, n := plain, 1; len(rest) > 0; n = n*3 + 7 {
		k := min(n%(3<<20)+1, len(rest))
		if _, err := w.Write(rest[:k]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

func openStream(v *Vault, id string, ct []byte) ([]byte, error) {
	r, err := v.OpenReader(bytes.NewReader(ct), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 1000},
		{"one segment exactly", 1<<20 - 16 - 40},
		{"20 MB", 20 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := pseudoRandom(tt.size, uint64(tt.size))
			ct := sealStream(t, v, "document/42", plain)
			if id, err := KeyID(ct); err != nil || id != v.PrimaryKeyID() {
				t.Fatalf("stream KeyID = %d, %v", id, err)
			}
			got, err := openStream(v, "document/42", ct)
			if err != nil {
				t.Fatalf("OpenReader: %v", err)
			}
			if sha256.Sum256(got) != sha256.Sum256(plain) {
				t.Fatalf("stream round trip: got %d bytes, want %d identical bytes", len(got), len(plain))
			}
		})
	}
}

func TestStreamDamage(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	plain := pseudoRandom(3<<20+5000, 1)
	ct := sealStream(t, v, "doc-s", plain)
	hdr := HeaderPrefixSize + int(ct[5])<<8 + int(ct[6])
	tinkHeader := hdr + 1 + 32 + 7
	segEnd := hdr + 1<<20 // end of the first ciphertext segment
	tests := []struct {
		name string
		id   string
		ct   []byte
	}{
		{"wrong object id", "doc-t", ct},
		{"truncated by one byte", "doc-s", ct[:len(ct)-1]},
		{"truncated mid-segment", "doc-s", ct[:segEnd-1000]},
		{"truncated at a segment boundary", "doc-s", ct[:segEnd]},
		{"truncated at the second boundary", "doc-s", ct[:segEnd+1<<20]},
		{"only the headers", "doc-s", ct[:tinkHeader]},
		{"only our header", "doc-s", ct[:hdr]},
		{"truncated header", "doc-s", ct[:hdr-1]},
		{"empty", "doc-s", nil},
		{"flipped payload byte", "doc-s", flipAt(ct, segEnd+500)},
		{"flipped last byte", "doc-s", flipAt(ct, len(ct)-1)},
		{"flipped tink salt", "doc-s", flipAt(ct, hdr+5)},
		{"flipped key id", "doc-s", flipAt(ct, 2)},
		{"appended bytes", "doc-s", append(bytes.Clone(ct), 1, 2, 3)},
		{"in-memory ciphertext", "doc-s", mustSeal(t, v, "doc-s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openStream(v, tt.id, tt.ct)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("read %d bytes, error = %v; want ErrDecrypt", len(got), err)
			}
			var sink bytes.Buffer
			if err := v.RewrapStream(&sink, bytes.NewReader(tt.ct), tt.id); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("RewrapStream error = %v, want ErrDecrypt", err)
			}
		})
	}
	if _, err := v.Open("doc-s", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open of a stream ciphertext: %v, want ErrDecrypt", err)
	}
	if _, err := v.SealWriter(io.Discard, ""); err == nil {
		t.Fatal("SealWriter accepted an empty object id")
	}
}

func mustSeal(t *testing.T, v *Vault, id string) []byte {
	ct, err := v.Seal(id, []byte("klein"))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func flipAt(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x80
	return c
}

func TestRewrapStream(t *testing.T) {
	t.Parallel()
	path, v1 := newKeyset(t)
	plain := pseudoRandom(2<<20+77, 9)
	old := sealStream(t, v1, "doc-r", plain)
	rot, err := RotateKeyset(path)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !v2.NeedsRewrap(old[:HeaderPrefixSize]) {
		t.Fatal("NeedsRewrap(stream prefix) = false for an old-key stream")
	}
	if got, err := openStream(v2, "doc-r", old); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("old stream after rotate: %v", err)
	}
	var moved bytes.Buffer
	if err := v2.RewrapStream(&moved, bytes.NewReader(old), "doc-r"); err != nil {
		t.Fatalf("RewrapStream: %v", err)
	}
	if id, _ := KeyID(moved.Bytes()); id != rot.ID || v2.NeedsRewrap(moved.Bytes()) {
		t.Fatalf("rewrapped stream key id = %d, want %d", id, rot.ID)
	}
	oldBody := old[HeaderPrefixSize+int(old[5])<<8+int(old[6]):]
	if !bytes.HasSuffix(moved.Bytes(), oldBody) {
		t.Fatal("RewrapStream changed the segments; only the data key should be re-wrapped")
	}
	if got, err := openStream(v2, "doc-r", moved.Bytes()); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open rewrapped stream: %v", err)
	}
	if _, err := openStream(v1, "doc-r", moved.Bytes()); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("old keyset opened a rewrapped stream: %v", err)
	}
	if err := v2.RewrapStream(&moved, bytes.NewReader(mustSeal(t, v2, "doc-r")), "doc-r"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("RewrapStream of an in-memory ciphertext: %v", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestStreamWriteErrors(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	if _, err := v.SealWriter(&failWriter{}, "doc"); err == nil {
		t.Fatal("SealWriter ignored a failing header write")
	}
	old := sealStream(t, v, "doc", pseudoRandom(100_000, 3))
	err := v.RewrapStream(&failWriter{after: 200}, bytes.NewReader(old), "doc")
	if err == nil || errors.Is(err, ErrDecrypt) {
		t.Fatalf("RewrapStream to a failing writer: %v; want the write error, not ErrDecrypt", err)
	}
}

// failReader returns its bytes, then a network-style error instead of EOF.
type failReader struct {
	data []byte
	err  error
}

func (f *failReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestStreamSourceErrors: an I/O error of the caller's reader is reported as itself
// (worth a retry), not as a damaged stream.
func TestStreamSourceErrors(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	ct := sealStream(t, v, "doc", pseudoRandom(2<<20, 4))
	hdr := HeaderPrefixSize + int(ct[5])<<8 + int(ct[6])
	netErr := errors.New("connection reset")
	for _, cut := range []int{0, 3, hdr, hdr + 20, hdr + 1<<20 + 10} {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			r, err := v.OpenReader(&failReader{data: ct[:cut], err: netErr}, "doc")
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, netErr) || errors.Is(err, ErrDecrypt) {
				t.Fatalf("OpenReader error = %v; want the reader's error, not ErrDecrypt", err)
			}
			err = v.RewrapStream(io.Discard, &failReader{data: ct[:cut], err: netErr}, "doc")
			if !errors.Is(err, netErr) || errors.Is(err, ErrDecrypt) {
				t.Fatalf("RewrapStream error = %v; want the reader's error", err)
			}
		})
	}
}
