package transfer

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	stdhash "hash"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() {
	// pdfcpu otherwise creates a config directory under $HOME on first use.
	model.ConfigPath = "disable"
}

// received is one downloaded document with what the source announced about it
// and the hashes taken once, while the bytes came in (verify checks them, the
// store records them).
type received struct {
	ref    remoteDoc
	pdf    []byte
	digest []byte // SHA-256 from Content-Digest (RFC 9530), nil when absent
	sums   sums   // of the PDF
	// contentSHA256 is the SHA-256 of the response content, which Content-Digest
	// covers: the PDF's own for a raw PDF, the FHIR Binary's for JSON.
	contentSHA256 [sha256.Size]byte
}

// sums are the SHA-1 (attachment.hash, FHIR STU3) and SHA-256 of a document.
type sums struct {
	sha1   [sha1.Size]byte
	sha256 [sha256.Size]byte
}

// hasher takes both hashes of what is written to it in one pass.
type hasher struct{ h1, h256 stdhash.Hash }

func newHasher() *hasher { return &hasher{h1: sha1.New(), h256: sha256.New()} }

func (h *hasher) Write(p []byte) (int, error) {
	h.h1.Write(p)
	h.h256.Write(p)
	return len(p), nil
}

func (h *hasher) Reset() { h.h1.Reset(); h.h256.Reset() }

func (h *hasher) sums() sums {
	var s sums
	h.h1.Sum(s.sha1[:0])
	h.h256.Sum(s.sha256[:0])
	return s
}

// sumsOf hashes b whole (the PDF inside a FHIR Binary, decoded after the read).
func sumsOf(b []byte) sums {
	h := newHasher()
	h.Write(b)
	return h.sums()
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
// response content with Content-Digest (both taken while the bytes came in).
func checkHashes(r received) *Failure {
	if len(r.ref.Hash) > 0 {
		if !bytes.Equal(r.sums.sha1[:], r.ref.Hash) {
			return fail(ReasonHashMismatch, "SHA-1 of document %s differs from attachment.hash", r.ref.ID)
		}
	}
	if r.digest != nil {
		if !bytes.Equal(r.contentSHA256[:], r.digest) {
			return fail(ReasonDigestMismatch, "SHA-256 of the response for document %s differs from Content-Digest", r.ref.ID)
		}
	}
	return nil
}

// checkPDF wants the PDF header at the start, the end-of-file marker in the last
// kilobyte (ISO 32000-1 §7.5.2, §7.5.5), streams that inflate to no more than
// inflateBudget, a file pdfcpu can read (cross-reference table and trailer) and at
// least one page: a dossier without pages is not a document the patient can read.
// The budget is checked before pdfcpu reads anything, because pdfcpu inflates
// cross-reference and object streams into memory as it reads them.
func checkPDF(id string, pdf []byte) *Failure {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return fail(ReasonNotPDF, "document %s does not start with %%PDF-", id)
	}
	tail := pdf[max(0, len(pdf)-1024):]
	if !bytes.Contains(tail, []byte("%%EOF")) {
		return fail(ReasonNotPDF, "document %s has no %%%%EOF in its last kilobyte", id)
	}
	budget := inflateBudget(len(pdf))
	if overInflateBudget(pdf, budget) {
		return fail(ReasonNotPDF, "document %s inflates to more than %d bytes", id, budget)
	}
	return readPDF(id, pdf, budget)
}

// readPDF has pdfcpu read the PDF and find its first page. pdfcpu is not
// hardened against every hostile file (a fuzzed 302-byte PDF made
// EnsurePageCount dereference nil), so a panic in it refuses the document
// instead of ending the fetch task.
func readPDF(id string, pdf []byte, budget int64) (f *Failure) {
	defer func() {
		if recover() != nil {
			f = fail(ReasonNotPDF, "document %s does not parse as PDF", id)
		}
	}()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	// pdfcpu's own bound on a decoded object stream, for the filters the scan
	// cannot see (LZWDecode, RunLengthDecode).
	conf.Limits.MaxDecodeBytes = min(budget, maxStreamDecode)
	ctx, err := api.ReadContext(bytes.NewReader(pdf), conf)
	if err != nil {
		return fail(ReasonNotPDF, "document %s does not parse as PDF", id)
	}
	if err := ctx.EnsurePageCount(); err != nil || ctx.PageCount < 1 {
		return fail(ReasonNotPDF, "document %s has no pages", id)
	}
	if _, _, _, err := ctx.PageDict(1, false); err != nil {
		return fail(ReasonNotPDF, "document %s has no pages", id)
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
