// Package vault encrypts health data at rest (envelope encryption with tink-go, bound
// to the object's id) and manages the keyset behind it: creation, rotation and the
// re-wrapping of objects written under an older key.
//
// A PGO keeps the dossier it holds confidential (NEN 7510-2 A.10 cryptography; OWASP
// ASVS 5.0 V11 Cryptography and V14 Data Protection): every row or file holding health
// data is stored only as a vault ciphertext.
//
// # Envelope format
//
// Each object gets a fresh 256-bit data key (DEK). The DEK encrypts the object
// (AES-256-GCM for [Vault.Seal], AES-256-GCM-HKDF streaming with 1 MiB segments for
// [Vault.SealWriter]); the key-encryption key (KEK, a [tink.AEAD]) encrypts the DEK.
// Both layers take the object id as associated data, so a ciphertext copied to
// another row does not open. Layout (all integers big endian):
//
//	byte 0      format: 0x01 in-memory object, 0x02 stream
//	bytes 1-4   id of the KEK key that wrapped the DEK
//	bytes 5-6   n = length of the wrapped DEK
//	bytes 7-    wrapped DEK (n bytes): KEK.Encrypt(DEK, header[0:5] || object id)
//	then        payload: AES-256-GCM(DEK, nonce || ct || tag, ad = format || object id)
//	            or the tink AES-GCM-HKDF stream (its own header, then segments)
//
// Why our own envelope on tink primitives rather than aead.NewKMSEnvelopeAEAD2:
//   - the KEK key id sits at a fixed offset, so [Vault.NeedsRewrap] answers without a
//     KEK call and a test can see which key wrote a ciphertext;
//   - the DEK wrap is bound to the object id too (tink's envelope wraps it with empty
//     associated data), and the header bytes are authenticated by that wrap;
//   - rotation re-wraps only the DEK: [Vault.Rewrap] and [Vault.RewrapStream] leave the
//     payload bytes as they are, so moving a 20 MB document to the new key costs one
//     KEK call and a verification pass, and the plaintext never leaves the call;
//   - streams use the same header and KEK, so one keyset and one rotation cover both.
//
// Nonce limits (NIST SP 800-38D 8.3): each DEK encrypts one message, so its random
// 96-bit nonce cannot repeat. Each KEK key wraps one DEK per object with a random
// nonce; stay well below 2^32 wraps per key, i.e. rotate long before four billion
// objects (and Rewrap counts as a wrap).
//
// # Re-encryption after a rotation
//
// A re-encrypt task finds old objects without decrypting anything: bytes 1-4 hold
// the key id, so in PostgreSQL `substring(ct from 2 for 4) <> $1` with $1 the
// big-endian [Vault.PrimaryKeyID] selects them (or [Vault.NeedsRewrap] per row). For
// each it calls [Vault.Rewrap] (or [Vault.RewrapStream]) and writes the result back
// only if the row still holds the ciphertext it read (compare and swap in one
// transaction), so a concurrent update is never overwritten. Repeating a Rewrap is
// harmless.
//
// The KEK is only ever used through [tink.AEAD]: the local keyset file ([Open]) is the
// default, and a KMS-backed AEAD (HashiCorp Vault transit, a cloud KMS) plugs in with
// [New] without changing the ciphertext format or any caller.
package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/subtle/random"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Sealer encrypts and decrypts objects at rest, bound to their id.
type Sealer interface {
	Seal(objectID string, plaintext []byte) ([]byte, error)
	Open(objectID string, ciphertext []byte) ([]byte, error)
}

// StreamSealer is Sealer for large objects.
type StreamSealer interface {
	SealWriter(w io.Writer, objectID string) (io.WriteCloser, error)
	OpenReader(r io.Reader, objectID string) (io.Reader, error)
}

// ErrDecrypt means a ciphertext did not open: wrong object id, tampered or truncated
// bytes, or a KEK key that is not in the keyset. Callers map it to an internal error;
// the message never holds plaintext or key material.
var ErrDecrypt = errors.New("vault: ciphertext does not open")

const (
	formatBlob   byte = 0x01
	formatStream byte = 0x02

	dekSize = 32 // AES-256
	// HeaderPrefixSize is how many leading bytes of a ciphertext (or stream) KeyID and
	// NeedsRewrap need.
	HeaderPrefixSize = 7
	maxWrappedDEK    = 1<<16 - 1
)

// Vault is the envelope encryption of this package; it implements Sealer and
// StreamSealer and is safe for concurrent use.
type Vault struct {
	kek   tink.AEAD
	kekID uint32
	// known maps the keyset's key ids to "enabled", when known (Open), so that an
	// object wrapped by a key this process lacks gets a precise error.
	known map[uint32]bool
	// chainKeys are the audit chain's HMAC keys per keyset key id (chainkey.go);
	// empty for a KMS-backed vault.
	chainKeys map[uint32][]byte
	// refKeys are the dossier ref keys' HMAC keys per keyset key id (RefKeys).
	refKeys map[uint32][]byte
}

var (
	_ Sealer       = (*Vault)(nil)
	_ StreamSealer = (*Vault)(nil)
)

// New returns a Vault whose data keys are wrapped by kek. kekID names the key kek
// encrypts with now (the keyset's primary key id, or a KMS key version); it is written
// into every header so that NeedsRewrap finds objects wrapped by older keys. kek must
// still decrypt DEKs wrapped by its earlier keys (a tink keyset does; so do KMS
// key versions).
func New(kek tink.AEAD, kekID uint32) *Vault {
	return &Vault{kek: kek, kekID: kekID}
}

// PrimaryKeyID is the id of the KEK key new objects are wrapped with.
func (v *Vault) PrimaryKeyID() uint32 { return v.kekID }

// Seal encrypts plaintext under a fresh data key, bound to objectID.
func (v *Vault) Seal(objectID string, plaintext []byte) ([]byte, error) {
	dek := random.GetRandomBytes(dekSize)
	header, err := v.wrapHeader(formatBlob, objectID, dek)
	if err != nil {
		return nil, err
	}
	gcm, err := subtle.NewAESGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("vault: data key: %w", err)
	}
	payload, err := gcm.Encrypt(plaintext, payloadAD(formatBlob, objectID))
	if err != nil {
		return nil, fmt.Errorf("vault: encrypt: %w", err)
	}
	return append(header, payload...), nil
}

// Open decrypts a ciphertext made by Seal for the same objectID.
func (v *Vault) Open(objectID string, ciphertext []byte) ([]byte, error) {
	h, payload, err := splitBlob(ciphertext)
	if err != nil {
		return nil, err
	}
	gcm, err := v.unwrapDEK(h, objectID)
	if err != nil {
		return nil, err
	}
	pt, err := gcm.Decrypt(payload, payloadAD(formatBlob, objectID))
	if err != nil {
		return nil, fmt.Errorf("%w: payload authentication failed", ErrDecrypt)
	}
	return pt, nil
}

// KeyID returns the id of the KEK key that wrapped the data key of a ciphertext, read
// from its first HeaderPrefixSize bytes (a stream's first bytes work too).
func KeyID(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < HeaderPrefixSize {
		return 0, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrDecrypt, len(ciphertext), HeaderPrefixSize)
	}
	if f := ciphertext[0]; f != formatBlob && f != formatStream {
		return 0, fmt.Errorf("%w: unknown format byte 0x%02x", ErrDecrypt, f)
	}
	return binary.BigEndian.Uint32(ciphertext[1:5]), nil
}

// NeedsRewrap reports whether a ciphertext (or the first HeaderPrefixSize bytes of a
// stream) was wrapped by a KEK key other than the primary, so a re-encrypt task
// should pass it through Rewrap. Bytes that are not a vault ciphertext give false:
// Rewrap could not help them.
func (v *Vault) NeedsRewrap(ciphertext []byte) bool {
	id, err := KeyID(ciphertext)
	return err == nil && id != v.kekID
}

// Rewrap moves a Seal ciphertext to the primary KEK key: it unwraps the data key with
// whichever keyset key wrapped it, checks that the payload opens (so a damaged object
// is reported rather than carried over), and wraps the same data key with the primary.
// The payload bytes are kept; the plaintext never leaves this call.
func (v *Vault) Rewrap(objectID string, ciphertext []byte) ([]byte, error) {
	h, payload, err := splitBlob(ciphertext)
	if err != nil {
		return nil, err
	}
	dek, err := v.unwrapRaw(h, objectID)
	if err != nil {
		return nil, err
	}
	gcm, err := subtle.NewAESGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %v", ErrDecrypt, err)
	}
	if _, err := gcm.Decrypt(payload, payloadAD(formatBlob, objectID)); err != nil {
		return nil, fmt.Errorf("%w: payload authentication failed", ErrDecrypt)
	}
	header, err := v.wrapHeader(formatBlob, objectID, dek)
	if err != nil {
		return nil, err
	}
	return append(header, payload...), nil
}

// header is a parsed envelope header.
type header struct {
	format  byte
	keyID   uint32
	wrapped []byte
}

// wrapHeader wraps dek with the primary KEK key and returns the encoded header.
func (v *Vault) wrapHeader(format byte, objectID string, dek []byte) ([]byte, error) {
	if objectID == "" {
		return nil, errors.New("vault: object id is empty; the id binds the ciphertext to its row")
	}
	prefix := make([]byte, 5, 7)
	prefix[0] = format
	binary.BigEndian.PutUint32(prefix[1:5], v.kekID)
	wrapped, err := v.kek.Encrypt(dek, dekAD(prefix, objectID))
	if err != nil {
		return nil, fmt.Errorf("vault: wrap data key with key %d: %w", v.kekID, err)
	}
	if len(wrapped) > maxWrappedDEK {
		return nil, fmt.Errorf("vault: wrapped data key is %d bytes, more than %d", len(wrapped), maxWrappedDEK)
	}
	out := binary.BigEndian.AppendUint16(prefix, uint16(len(wrapped)))
	return append(out, wrapped...), nil
}

// unwrapRaw returns the data key of h, checking the binding to objectID.
func (v *Vault) unwrapRaw(h header, objectID string) ([]byte, error) {
	if objectID == "" {
		return nil, errors.New("vault: object id is empty; the id binds the ciphertext to its row")
	}
	prefix := make([]byte, 5)
	prefix[0] = h.format
	binary.BigEndian.PutUint32(prefix[1:], h.keyID)
	dek, err := v.kek.Decrypt(h.wrapped, dekAD(prefix, objectID))
	if err != nil {
		return nil, v.unwrapError(h.keyID)
	}
	if len(dek) != dekSize {
		return nil, fmt.Errorf("%w: data key has %d bytes, want %d", ErrDecrypt, len(dek), dekSize)
	}
	return dek, nil
}

// unwrapError says why a data key did not unwrap, as far as this process can tell:
// a key it lacks (not restarted after a rotation, or the wrong keyset), a disabled
// key, or else a wrong object id or damaged bytes.
func (v *Vault) unwrapError(id uint32) error {
	enabled, ok := v.known[id]
	switch {
	case v.known != nil && !ok:
		return fmt.Errorf("%w: wrapped by key %d, which is not in this keyset (wrong keyset, or this process predates a rotation)", ErrDecrypt, id)
	case v.known != nil && !enabled:
		return fmt.Errorf("%w: wrapped by key %d, which is disabled in this keyset", ErrDecrypt, id)
	}
	return fmt.Errorf("%w: data key (wrapped by key %d) does not unwrap for this object id (wrong id or damaged bytes)", ErrDecrypt, id)
}

func (v *Vault) unwrapDEK(h header, objectID string) (*subtle.AESGCM, error) {
	dek, err := v.unwrapRaw(h, objectID)
	if err != nil {
		return nil, err
	}
	gcm, err := subtle.NewAESGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %v", ErrDecrypt, err)
	}
	return gcm, nil
}

// splitBlob parses the header of an in-memory ciphertext and returns its payload.
func splitBlob(ct []byte) (header, []byte, error) {
	h, n, err := readHeader(bytes.NewReader(ct))
	if err != nil {
		return header{}, nil, err
	}
	if h.format != formatBlob {
		return header{}, nil, fmt.Errorf("%w: this is a stream ciphertext; use OpenReader", ErrDecrypt)
	}
	return h, ct[n:], nil
}

// readHeader reads exactly the header from r, so that a stream continues after it.
func readHeader(r io.Reader) (header, int, error) {
	var fixed [HeaderPrefixSize]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return header{}, 0, fmt.Errorf("%w: header is truncated", ErrDecrypt)
	}
	if _, err := KeyID(fixed[:]); err != nil {
		return header{}, 0, err
	}
	n := int(binary.BigEndian.Uint16(fixed[5:7]))
	if n == 0 {
		return header{}, 0, fmt.Errorf("%w: wrapped data key is empty", ErrDecrypt)
	}
	wrapped := make([]byte, n)
	if _, err := io.ReadFull(r, wrapped); err != nil {
		return header{}, 0, fmt.Errorf("%w: wrapped data key is truncated", ErrDecrypt)
	}
	h := header{format: fixed[0], keyID: binary.BigEndian.Uint32(fixed[1:5]), wrapped: wrapped}
	return h, HeaderPrefixSize + n, nil
}

// dekAD is the associated data of the DEK wrap: the authenticated header prefix
// (format and key id) and the object id.
func dekAD(prefix []byte, objectID string) []byte {
	ad := make([]byte, 0, len(prefix)+len(objectID))
	return append(append(ad, prefix...), objectID...)
}

// payloadAD is the associated data of the payload: the format and the object id.
func payloadAD(format byte, objectID string) []byte {
	return append([]byte{format}, objectID...)
}
