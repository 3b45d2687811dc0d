package vault

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
)

// TestStagedRotation: the two-step rotation for several instances. After StageKey an
// old-keyset process can still read everything written, and a staged-keyset process
// reads objects under the promoted key before it was restarted.
func TestStagedRotation(t *testing.T) {
	t.Parallel()
	path, v0 := newKeyset(t)
	staged, err := StageKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if staged.Primary || staged.ID == v0.PrimaryKeyID() {
		t.Fatalf("StageKey = %+v; want a new non-primary key", staged)
	}
	v1, err := Open(path) // an instance restarted after the stage step
	if err != nil {
		t.Fatal(err)
	}
	if v1.PrimaryKeyID() != v0.PrimaryKeyID() {
		t.Fatal("StageKey changed the primary")
	}
	a, _ := v1.Seal("a", []byte("na stage"))
	if _, err := v0.Open("a", a); err != nil {
		t.Fatalf("an instance not yet restarted cannot read a post-stage write: %v", err)
	}
	promoted, err := PromoteKey(path, staged.ID)
	if err != nil || promoted.ID != staged.ID {
		t.Fatalf("PromoteKey = %+v, %v", promoted, err)
	}
	v2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v2.Seal("b", []byte("na promote"))
	if id, _ := KeyID(b); id != staged.ID {
		t.Fatalf("after promote new data uses key %d, want %d", id, staged.ID)
	}
	if got, err := v1.Open("b", b); err != nil || string(got) != "na promote" {
		t.Fatalf("a staged instance cannot read the promoted key's data: %v", err)
	}
	if got, err := v2.Open("a", a); err != nil || string(got) != "na stage" {
		t.Fatalf("old data after promote: %v", err)
	}
}

func TestPromoteKeyErrors(t *testing.T) {
	t.Parallel()
	path, v := newKeyset(t)
	tests := []struct {
		name string
		path string
		id   uint32
		want string
	}{
		{"unknown id", path, v.PrimaryKeyID() + 1, fmt.Sprintf("has no enabled key %d", v.PrimaryKeyID()+1)},
		{"missing file", filepath.Join(t.TempDir(), "none.json"), 1, "file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PromoteKey(tt.path, tt.id)
			if !errors.Is(err, ErrKeyset) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("PromoteKey error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := StageKey(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, ErrKeyset) {
		t.Fatalf("StageKey on a missing file: %v", err)
	}
}

// TestUnwrapErrorNamesMissingKey: a process that predates a rotation says which key it
// lacks, instead of a bare authentication failure.
func TestUnwrapErrorNamesMissingKey(t *testing.T) {
	t.Parallel()
	path, old := newKeyset(t)
	rot, err := RotateKeyset(path)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := cur.Seal("doc", []byte("x"))
	tests := []struct {
		name string
		v    *Vault
		id   string
		want string
	}{
		{"key not in keyset", old, "doc", fmt.Sprintf("wrapped by key %d, which is not in this keyset", rot.ID)},
		{"wrong object id", cur, "other", "does not unwrap for this object id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Open(tt.id, ct)
			if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestNewWithOtherKEK: any tink.AEAD can be the KEK (the seam for a KMS); here a bare
// AES-GCM stands in for a remote KMS key with version 7.
func TestNewWithOtherKEK(t *testing.T) {
	t.Parallel()
	kms, err := subtle.NewAESGCM(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	v := New(kms, 7)
	ct, err := v.Seal("obj", []byte("via KMS"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(ct); id != 7 {
		t.Fatalf("KeyID = %d, want the KMS key version 7", id)
	}
	if got, err := v.Open("obj", ct); err != nil || string(got) != "via KMS" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	stream := sealStream(t, v, "obj", []byte("stream via KMS"))
	if got, err := openStream(v, "obj", stream); err != nil || string(got) != "stream via KMS" {
		t.Fatalf("stream = %q, %v", got, err)
	}
	// The next KMS version rewraps the same objects (the KMS keeps old versions).
	v8 := New(kms, 8)
	if !v8.NeedsRewrap(ct) {
		t.Fatal("NeedsRewrap = false for a version-7 object under version 8")
	}
	if _, err := v8.Rewrap("obj", ct); err != nil {
		t.Fatalf("Rewrap to version 8: %v", err)
	}
	_, local := newKeyset(t)
	if _, err := local.Open("obj", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a different KEK opened the object: %v", err)
	}
}

// TestConcurrentUse: one Vault serves many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("obj-%d", i)
			plain := pseudoRandom(64<<10+i, uint64(i))
			ct, err := v.Seal(id, plain)
			if err == nil {
				var got []byte
				if got, err = v.Open(id, ct); err == nil && !bytes.Equal(got, plain) {
					err = fmt.Errorf("%s: round trip differs", id)
				}
			}
			if err == nil {
				err = streamRoundTrip(v, id, plain)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// streamRoundTrip is sealStream + openStream without t, for use in goroutines.
func streamRoundTrip(v *Vault, id string, plain []byte) error {
	var buf bytes.Buffer
	w, err := v.SealWriter(&buf, id)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	got, err := openStream(v, id, buf.Bytes())
	if err == nil && !bytes.Equal(got, plain) {
		err = fmt.Errorf("%s: stream round trip differs", id)
	}
	return err
}

// The audit chain keys: one per keyset key, stable across opens, different per
// key, and after a rotation the old key's chain key is still there (old records
// keep verifying) while new records use the new primary's.
func TestChainKeysSurviveRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := CreateKeyset(path); err != nil {
		t.Fatal(err)
	}
	v1, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id1, k1, ok := v1.PrimaryChainKey()
	if !ok || len(k1) != 32 {
		t.Fatalf("no primary chain key: %v %d", ok, len(k1))
	}
	if _, err := RotateKeyset(path); err != nil {
		t.Fatal(err)
	}
	v2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id2, k2, _ := v2.PrimaryChainKey()
	if id2 == id1 || bytes.Equal(k1, k2) {
		t.Errorf("rotation kept the chain key: %d %d", id1, id2)
	}
	old, err := v2.ChainKey(id1)
	if err != nil || !bytes.Equal(old, k1) {
		t.Errorf("old chain key after rotation: %v (equal %v)", err, bytes.Equal(old, k1))
	}
	if _, err := v2.ChainKey(12345); err == nil {
		t.Error("a chain key for an unknown key id")
	}
	if _, _, ok := New(nil, 7).PrimaryChainKey(); ok {
		t.Error("a KMS-backed vault claims a chain key")
	}
}

// Two `pgo keys rotate` (or stage) at once: each read-change-write of the file
// waits for the other, so every key a call reports as added is in the file.
// Without the lock the later write drops the earlier key in most runs.
func TestConcurrentRotationsKeepEveryKey(t *testing.T) {
	t.Parallel()
	for run := 0; run < 5; run++ {
		path, _ := newKeyset(t)
		var wg sync.WaitGroup
		ids := make([]uint32, 6)
		errs := make([]error, len(ids))
		for i := range ids {
			wg.Go(func() {
				add := RotateKeyset
				if i%2 == 1 {
					add = StageKey
				}
				k, err := add(path)
				ids[i], errs[i] = k.ID, err
			})
		}
		wg.Wait()
		infos, err := ReadKeysetInfo(path)
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint32]bool{}
		for _, k := range infos {
			have[k.ID] = true
		}
		for i, id := range ids {
			if errs[i] != nil || !have[id] {
				t.Fatalf("run %d: call %d reported key %d (%v), but the keyset holds %v", run, i, id, errs[i], infos)
			}
		}
		if len(infos) != len(ids)+1 {
			t.Fatalf("run %d: %d keys, want %d", run, len(infos), len(ids)+1)
		}
	}
}
