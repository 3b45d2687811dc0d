package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The local keyset file (PGO_KEYSET_FILE) is a tink JSON keyset of AES-256-GCM keys
// with TINK output prefixes, the KEK of the envelope.
//
// Protecting the file itself. Two layers, because the file is the one secret that
// unlocks every dossier:
//   - File mode: Open refuses a keyset that group or others may read or write (like
//     OpenSSH refuses a private key), and the commands here create it 0600. This is
//     the default and stops the commonest leak (a world-readable file in a volume or
//     backup) without extra secrets to manage. Mounted secrets must be 0600 or 0400
//     (Kubernetes: defaultMode 0400; its default 0644 is refused).
//   - Optional master key (PGO_MASTER_KEY, 32 random bytes in base64, e.g.
//     `head -c32 /dev/urandom | base64`): the keyset is then stored encrypted by tink
//     (keyset.WriteWithAssociatedData, AES-256-GCM), so a copied file or a backup of
//     the volume is useless without the environment of the running service. The master
//     key travels a different channel (orchestrator secret) than the file (volume).
//     With a master key set, a cleartext keyset is refused (and the other way round),
//     so a misconfiguration cannot silently drop the protection.
//
// In production the next step is a KMS: keep the KEK there and pass its tink.AEAD to
// New; the ciphertext format does not change.

// ErrKeyset marks a problem with the keyset file or the master key. Its messages start
// with the setting to fix ("PGO_KEYSET_FILE: ..." or "PGO_MASTER_KEY: ...") and never
// hold key material.
var ErrKeyset = errors.New("vault: keyset problem")

// keysetError is an ErrKeyset with its own complete message.
type keysetError struct{ msg string }

func (e *keysetError) Error() string        { return e.msg }
func (e *keysetError) Is(target error) bool { return target == ErrKeyset }

func keysetErrorf(format string, args ...any) error {
	return &keysetError{msg: fmt.Sprintf(format, args...)}
}

const (
	aesGCMTypeURL = "type.googleapis.com/google.crypto.tink.AesGcmKey"
	masterKeySize = 32
)

// masterKeyAD binds an encrypted keyset file to its purpose, so the master key cannot
// be pointed at some other tink-encrypted blob.
var masterKeyAD = []byte("pgo/vault keyset v1")

// Option changes how a keyset file is read or written.
type Option func(*keysetFile)

// WithMasterKey says that the keyset file is (or is to be) encrypted with this 32-byte
// master key (PGO_MASTER_KEY, decoded with DecodeMasterKey). Nil or empty: cleartext.
func WithMasterKey(key []byte) Option {
	return func(f *keysetFile) { f.masterKey = key }
}

type keysetFile struct {
	path      string
	masterKey []byte
}

func newKeysetFile(path string, opts []Option) *keysetFile {
	f := &keysetFile{path: path}
	for _, o := range opts {
		o(f)
	}
	return f
}

// KeyInfo describes one key of a keyset, without its material (for `pgo keys info`).
type KeyInfo struct {
	ID      uint32 `json:"id"`
	Primary bool   `json:"primary"`
	Status  string `json:"status"` // enabled, disabled, destroyed
	Type    string `json:"type"`   // AES256_GCM
}

// Open reads the keyset file at path and returns a Vault that wraps new data keys with
// its primary key and unwraps with any of its enabled keys. The error says precisely
// what is wrong with the file (missing, unreadable, too open, not a keyset, encrypted
// or not, wrong kind of keys) and wraps ErrKeyset.
func Open(path string, opts ...Option) (*Vault, error) {
	f := newKeysetFile(path, opts)
	h, err := f.read()
	if err != nil {
		return nil, err
	}
	kek, err := aead.New(h)
	if err != nil {
		return nil, f.errorf("cannot use keyset: %v", err)
	}
	v := New(kek, h.KeysetInfo().GetPrimaryKeyId())
	v.known = map[uint32]bool{}
	for _, k := range keyInfos(h) {
		v.known[k.ID] = k.Status == "enabled"
	}
	if v.chainKeys, err = deriveChainKeys(h); err != nil {
		return nil, f.errorf("cannot derive the audit chain keys: %v", err)
	}
	if v.refKeys, err = deriveKeys(h, refKeyInfo); err != nil {
		return nil, f.errorf("cannot derive the dossier ref keys: %v", err)
	}
	return v, nil
}

// CreateKeyset writes a new keyset with one AES-256-GCM key to path, mode 0600. It
// refuses to overwrite an existing file (the old keyset may be the only way to read
// stored data).
func CreateKeyset(path string, opts ...Option) (KeyInfo, error) {
	f := newKeysetFile(path, opts)
	if path == "" {
		return KeyInfo{}, f.errorf("no file given")
	}
	if err := f.checkMasterKey(); err != nil {
		return KeyInfo{}, err
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return KeyInfo{}, f.errorf("cannot generate a key: %v", err)
	}
	if err := f.write(h, true); err != nil {
		return KeyInfo{}, err
	}
	return primaryInfo(h), nil
}

// DecodeMasterKey decodes PGO_MASTER_KEY: standard or URL-safe base64, padded or not,
// of exactly 32 bytes. The error never repeats the value.
func DecodeMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != masterKeySize {
				return nil, keysetErrorf("PGO_MASTER_KEY: decodes to %d bytes, want %d", len(b), masterKeySize)
			}
			return b, nil
		}
	}
	return nil, keysetErrorf("PGO_MASTER_KEY: is not base64 (make one with: head -c32 /dev/urandom | base64)")
}

func primaryInfo(h *keyset.Handle) KeyInfo {
	return KeyInfo{ID: h.KeysetInfo().GetPrimaryKeyId(), Primary: true, Status: "enabled", Type: "AES256_GCM"}
}

func (f *keysetFile) errorf(format string, args ...any) error {
	where := "PGO_KEYSET_FILE: "
	if f.path != "" {
		where += f.path + ": "
	}
	return keysetErrorf("%s%s", where, fmt.Sprintf(format, args...))
}

func (f *keysetFile) checkMasterKey() error {
	if len(f.masterKey) != 0 && len(f.masterKey) != masterKeySize {
		return keysetErrorf("PGO_MASTER_KEY: has %d bytes, want %d", len(f.masterKey), masterKeySize)
	}
	return nil
}

func (f *keysetFile) masterAEAD() (tink.AEAD, error) {
	if err := f.checkMasterKey(); err != nil {
		return nil, err
	}
	m, err := subtle.NewAESGCM(f.masterKey)
	if err != nil {
		return nil, keysetErrorf("PGO_MASTER_KEY: %v", err)
	}
	return m, nil
}

// read loads and checks the keyset file.
func (f *keysetFile) read() (*keyset.Handle, error) {
	data, err := f.readFile()
	if err != nil {
		return nil, err
	}
	h, err := f.parse(data)
	if err != nil {
		return nil, err
	}
	if err := f.checkKinds(h); err != nil {
		return nil, err
	}
	return h, nil
}

// readFile reads the file after checking that it exists, is a regular file and is
// not open to group or others.
func (f *keysetFile) readFile() ([]byte, error) {
	if f.path == "" {
		return nil, keysetErrorf("PGO_KEYSET_FILE: not set; create a keyset with `pgo keys init --out FILE` and set PGO_KEYSET_FILE to FILE")
	}
	st, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, f.errorf("file does not exist (create it with `pgo keys init --out %s`)", f.path)
	case err != nil:
		return nil, f.errorf("cannot read: %v", unwrapPath(err))
	case !st.Mode().IsRegular():
		return nil, f.errorf("is not a regular file")
	case st.Mode().Perm()&0o077 != 0:
		return nil, f.errorf("mode %04o lets group or others at the keys; run `chmod 600 %s`", st.Mode().Perm(), f.path)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, f.errorf("cannot read: %v", unwrapPath(err))
	}
	return data, nil
}

// parse turns the JSON into a handle, cleartext or encrypted with the master key.
func (f *keysetFile) parse(data []byte) (*keyset.Handle, error) {
	var shape struct {
		EncryptedKeyset *string           `json:"encryptedKeyset"`
		Key             []json.RawMessage `json:"key"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, f.errorf("is not a tink JSON keyset (invalid JSON at byte %d)", se.Offset)
		}
		return nil, f.errorf("is not a tink JSON keyset (want a JSON object)")
	}
	encrypted := shape.EncryptedKeyset != nil
	switch {
	case encrypted && len(f.masterKey) == 0:
		return nil, f.errorf("is encrypted with a master key; set PGO_MASTER_KEY")
	case !encrypted && len(shape.Key) == 0:
		return nil, f.errorf("is not a tink JSON keyset (no \"key\" list)")
	case !encrypted && len(f.masterKey) != 0:
		return nil, f.errorf("is not encrypted, but PGO_MASTER_KEY is set; unset it or re-create the keyset encrypted")
	}
	r := keyset.NewJSONReader(bytes.NewReader(data))
	if !encrypted {
		h, err := insecurecleartextkeyset.Read(r)
		if err != nil {
			return nil, f.errorf("is not a valid tink keyset: %v", err)
		}
		return h, nil
	}
	m, err := f.masterAEAD()
	if err != nil {
		return nil, err
	}
	h, err := keyset.ReadWithAssociatedData(r, m, masterKeyAD)
	if err != nil {
		// Do not pass tink's text on: it may describe the decrypted bytes.
		return nil, f.errorf("cannot decrypt with PGO_MASTER_KEY (wrong master key, or the file is damaged)")
	}
	return h, nil
}

// checkKinds accepts only AES-256-GCM keys with TINK prefixes: the kind pgo keys init
// makes. Anything else (a streaming, MAC or signature keyset, AES-128) is refused.
func (f *keysetFile) checkKinds(h *keyset.Handle) error {
	info := h.KeysetInfo()
	for _, k := range info.GetKeyInfo() {
		if k.GetTypeUrl() != aesGCMTypeURL {
			return f.errorf("key %d is %s, want AES-256-GCM (the wrong kind of keyset; make one with `pgo keys init`)", k.GetKeyId(), k.GetTypeUrl())
		}
		if k.GetOutputPrefixType() != tinkpb.OutputPrefixType_TINK {
			return f.errorf("key %d has output prefix %s, want TINK", k.GetKeyId(), k.GetOutputPrefixType())
		}
	}
	for i := 0; i < h.Len(); i++ {
		e, err := h.Entry(i)
		if err != nil {
			return f.errorf("key %d: %v", i, err)
		}
		k, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return f.errorf("key %d is not an AES-GCM key", e.KeyID())
		}
		if p, ok := k.Parameters().(*aesgcm.Parameters); !ok || p.KeySizeInBytes() != 32 {
			return f.errorf("key %d is not a 256-bit AES-GCM key", e.KeyID())
		}
	}
	return nil
}

// write stores the keyset atomically with mode 0600: a temporary file in the same
// directory, fsync, then link (create: fails if the file exists) or rename (rotate).
func (f *keysetFile) write(h *keyset.Handle, create bool) error {
	if err := f.checkMasterKey(); err != nil {
		return err
	}
	var buf bytes.Buffer
	w := keyset.NewJSONWriter(&buf)
	if len(f.masterKey) == 0 {
		if err := insecurecleartextkeyset.Write(h, w); err != nil {
			return f.errorf("cannot encode keyset: %v", err)
		}
	} else {
		m, err := f.masterAEAD()
		if err != nil {
			return err
		}
		if err := h.WriteWithAssociatedData(w, m, masterKeyAD); err != nil {
			return f.errorf("cannot encrypt keyset: %v", err)
		}
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return f.errorf("cannot write: %v", unwrapPath(err))
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, buf.Bytes()); err != nil {
		return f.errorf("cannot write: %v", err)
	}
	if create {
		err = os.Link(tmp.Name(), f.path)
		if errors.Is(err, fs.ErrExist) {
			return f.errorf("file exists; refusing to overwrite a keyset (use `pgo keys rotate` to add a key)")
		}
	} else {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		return f.errorf("cannot write: %v", unwrapPath(err))
	}
	syncDir(dir)
	return nil
}

func writeAndSync(tmp *os.File, data []byte) error {
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	return tmp.Close()
}

// syncDir makes the new directory entry durable; best effort (not every file system
// supports syncing a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
