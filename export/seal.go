package export

import (
	"bytes"
	"fmt"
	"io"

	"github.com/pgo-koppelvlak/pgo/vault"
)

// blobFormat and streamFormat are the first byte of a vault ciphertext (package
// vault, "Envelope format"): an in-memory object or a stream of 1 MiB segments.
const (
	blobFormat   byte = 0x01
	streamFormat byte = 0x02
)

// StreamSeal is the Sealer for export documents that the FHIR Binary endpoint can
// stream: it seals in vault's stream format (AES-256-GCM-HKDF, 1 MiB authenticated
// segments) instead of one AES-GCM message, so a download decrypts segment by
// segment and never holds the whole document. Open and Rewrap accept both formats,
// so documents sealed before still open and rotate. Give it to NewJobs as Sealer
// and to the export_document rewrap (exportdb.Store.RewrapDocuments) as Rewrapper.
type StreamSeal struct{ V *vault.Vault }

var _ Sealer = StreamSeal{}

// Seal encrypts a rendered document as a vault stream bound to objectID.
func (s StreamSeal) Seal(objectID string, plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plaintext) + len(plaintext)/(1<<20)*16 + 256)
	w, err := s.V.SealWriter(&buf, objectID)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("vault: seal stream: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: seal stream: %w", err)
	}
	return buf.Bytes(), nil
}

// Open decrypts either format whole (the CLI and tests; the endpoint streams).
func (s StreamSeal) Open(objectID string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) > 0 && ciphertext[0] == streamFormat {
		r, err := s.V.OpenReader(bytes.NewReader(ciphertext), objectID)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	return s.V.Open(objectID, ciphertext)
}

// OpenReader decrypts a stream as it is read.
func (s StreamSeal) OpenReader(r io.Reader, objectID string) (io.Reader, error) {
	return s.V.OpenReader(r, objectID)
}

// PrimaryKeyID is the vault's primary key id (store.Rewrapper).
func (s StreamSeal) PrimaryKeyID() uint32 { return s.V.PrimaryKeyID() }

// Rewrap moves either format to the primary key (store.Rewrapper): a stream with
// vault.RewrapStream (segments copied unchanged), an object with vault.Rewrap.
func (s StreamSeal) Rewrap(objectID string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) > 0 && ciphertext[0] == streamFormat {
		var buf bytes.Buffer
		buf.Grow(len(ciphertext))
		if err := s.V.RewrapStream(&buf, bytes.NewReader(ciphertext), objectID); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return s.V.Rewrap(objectID, ciphertext)
}
