package export

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
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

// A document sealed by StreamSeal declares its own size and SHA-256 in front of
// its bytes, inside the encryption: declMagic, the size (8 bytes, big-endian), the
// SHA-256 (32 bytes), then the PDF. The at-rest AEAD authenticates the
// declaration with the document (every segment, their order and the stream's
// end, bound to the job id), so serving compares the declaration with the job
// row once, before the first byte, instead of hashing every byte of every
// download (issue 16: hashing was 18-25 % of the serving process's CPU during
// 20 MB downloads, BENCHMARKS.md rounds 16 and 17).
// Documents sealed before it carry no declaration (a PDF starts with "%PDF-"):
// they are hashed as they are served, as all documents were.
const (
	declMagic = "pgo-decl"
	declSize  = len(declMagic) + 8 + sha256.Size
)

// declaration is what a sealed document declares of itself.
type declaration struct {
	size int64
	sum  [sha256.Size]byte
}

// declare returns the declaration of doc.
func declare(doc []byte) []byte {
	d := make([]byte, 0, declSize)
	d = append(d, declMagic...)
	d = binary.BigEndian.AppendUint64(d, uint64(len(doc)))
	sum := sha256.Sum256(doc)
	return append(d, sum[:]...)
}

// readDeclaration reads the declaration at the start of a document's plaintext
// and returns it with the reader of the document's bytes after it; found is false
// for a document sealed without one (r then returns every byte). An error is a
// damaged document: a declaration cut short, or the first segment failing its
// authentication.
func readDeclaration(plain io.Reader) (d declaration, found bool, r io.Reader, err error) {
	br := bufio.NewReaderSize(plain, 2*declSize) // larger reads pass it by
	head, err := br.Peek(declSize)
	if err != nil && err != io.EOF {
		return d, false, nil, err
	}
	if !bytes.HasPrefix(head, []byte(declMagic)) {
		return d, false, br, nil
	}
	if len(head) < declSize {
		return d, false, nil, fmt.Errorf("the document's declaration is cut short at %d bytes", len(head))
	}
	d.size = int64(binary.BigEndian.Uint64(head[len(declMagic):]))
	copy(d.sum[:], head[len(declMagic)+8:])
	_, _ = br.Discard(declSize)
	return d, true, br, nil
}

// StreamSeal is the Sealer for export documents that the FHIR Binary endpoint can
// stream: it seals in vault's stream format (AES-256-GCM-HKDF, 1 MiB authenticated
// segments) instead of one AES-GCM message, so a download decrypts segment by
// segment and never holds the whole document. Open and Rewrap accept both formats,
// so documents sealed before still open and rotate. Give it to NewJobs as Sealer
// and to the export_document rewrap (exportdb.Store.RewrapDocuments) as Rewrapper.
type StreamSeal struct{ V *vault.Vault }

var _ Sealer = StreamSeal{}

// Seal encrypts a rendered document as a vault stream bound to objectID, its
// declaration (size and SHA-256 of exactly these bytes) in front.
func (s StreamSeal) Seal(objectID string, plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(declSize + len(plaintext) + len(plaintext)/(1<<20)*16 + 256)
	w, err := s.V.SealWriter(&buf, objectID)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(declare(plaintext)); err != nil {
		return nil, fmt.Errorf("vault: seal stream: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("vault: seal stream: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: seal stream: %w", err)
	}
	return buf.Bytes(), nil
}

// Open decrypts either format whole (Jobs.Document, the CLI and tests; the
// endpoint streams) and returns the document without its declaration, which it
// checks against the bytes.
func (s StreamSeal) Open(objectID string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || ciphertext[0] != streamFormat {
		return s.V.Open(objectID, ciphertext)
	}
	r, err := s.V.OpenReader(bytes.NewReader(ciphertext), objectID)
	if err != nil {
		return nil, err
	}
	d, found, r, err := readDeclaration(r)
	if err != nil {
		return nil, err
	}
	doc, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if found && (int64(len(doc)) != d.size || sha256.Sum256(doc) != d.sum) {
		return nil, fmt.Errorf("export %s: the document differs from its declaration", objectID)
	}
	return doc, nil
}

// OpenReader decrypts a stream as it is read: the plaintext as sealed, with the
// declaration in front when it has one (Serving.Open reads it).
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
