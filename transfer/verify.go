package transfer

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() {
	// pdfcpu otherwise creates a config directory under $HOME on first use.
	model.ConfigPath = "disable"
}

// received is one downloaded document with what the source announced about it.
type received struct {
	ref      remoteDoc
	pdf      []byte
	digest   []byte // SHA-256 from Content-Digest (RFC 9530), nil when absent
	digested []byte // the bytes the digest covers (the response content)
}

// verify checks a received document before anything is stored: the size against
// attachment.size (FHIR STU3 §2.24.0.14 Attachment) and PGO_MAX_DOCUMENT_BYTES, the
// SHA-1 against attachment.hash, the SHA-256 against Content-Digest (RFC 9530
// §2), and that the bytes are a PDF (header, %%EOF trailer, and pdfcpu reads them).
// The first failed check decides the reason.
func (s *Service) verify(r received) *Failure {
	n := int64(len(r.pdf))
	switch {
	case n > s.c.MaxDocumentBytes:
		return fail(ReasonTooLarge, "document %s has %d bytes, more than the %d allowed", r.ref.ID, n, s.c.MaxDocumentBytes)
	case r.ref.Size > 0 && n < r.ref.Size:
		return fail(ReasonTruncated, "document %s has %d bytes, attachment.size announced %d", r.ref.ID, n, r.ref.Size)
	case r.ref.Size > 0 && n > r.ref.Size:
		return fail(ReasonTooLong, "document %s has %d bytes, attachment.size announced %d", r.ref.ID, n, r.ref.Size)
	}
	if f := checkHashes(r); f != nil {
		return f
	}
	return checkPDF(r.ref.ID, r.pdf)
}

// checkHashes compares the SHA-1 with attachment.hash and the SHA-256 of the
// response content with Content-Digest.
func checkHashes(r received) *Failure {
	if len(r.ref.Hash) > 0 {
		sum := sha1.Sum(r.pdf)
		if !bytes.Equal(sum[:], r.ref.Hash) {
			return fail(ReasonHashMismatch, "SHA-1 of document %s differs from attachment.hash", r.ref.ID)
		}
	}
	if r.digest != nil {
		sum := sha256.Sum256(r.digested)
		if !bytes.Equal(sum[:], r.digest) {
			return fail(ReasonDigestMismatch, "SHA-256 of the response for document %s differs from Content-Digest", r.ref.ID)
		}
	}
	return nil
}

// checkPDF wants the PDF header at the start, the end-of-file marker in the last
// kilobyte (ISO 32000-1 §7.5.2, §7.5.5) and a file pdfcpu can read (cross-reference
// table and trailer).
func checkPDF(id string, pdf []byte) *Failure {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return fail(ReasonNotPDF, "document %s does not start with %%PDF-", id)
	}
	tail := pdf[max(0, len(pdf)-1024):]
	if !bytes.Contains(tail, []byte("%%EOF")) {
		return fail(ReasonNotPDF, "document %s has no %%%%EOF in its last kilobyte", id)
	}
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	if _, err := api.ReadContext(bytes.NewReader(pdf), conf); err != nil {
		return fail(ReasonNotPDF, "document %s does not parse as PDF", id)
	}
	return nil
}

// parseDigest returns the sha-256 value of a Content-Digest or Repr-Digest field
// (RFC 9530 §2: a Structured Fields Dictionary, byte sequences between colons);
// nil when there is none. ok is false when the field is present but malformed.
func parseDigest(field string) (sum []byte, ok bool) {
	if strings.TrimSpace(field) == "" {
		return nil, true
	}
	for _, member := range strings.Split(field, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(member), "=")
		if !found || strings.ToLower(strings.TrimSpace(k)) != "sha-256" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
			return nil, false
		}
		b, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil || len(b) != sha256.Size {
			return nil, false
		}
		return b, true
	}
	return nil, true
}
