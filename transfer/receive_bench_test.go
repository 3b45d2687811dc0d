package transfer

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// The target's work on one downloaded document after the bytes arrive, at the
// sizes of issue 16 (1 MB and 20 MB): reading the response body (Content-Digest
// parsed, bytes counted), the checks of verify (size, SHA-1 against
// attachment.hash, SHA-256 against Content-Digest, the PDF parse) and the seal
// before the store. The body comes from memory, so the figures are the target's
// own cost, not the network's.
//
//	go test -run '^$' -bench 'Receive|HashCheck' -count 5 ./transfer/
var receiveSizes = []int{1 << 20, 20 << 20}

// BenchmarkReceive is readDocument + verify + seal of one raw PDF response.
func BenchmarkReceive(b *testing.B) {
	v, _ := vaulttest.New(b)
	s := &Service{c: Config{Sealer: v, MaxDocumentBytes: 64 << 20, Now: time.Now}}
	for _, n := range receiveSizes {
		pdf := benchPDF(n)
		d := benchRemoteDoc(pdf)
		digest := benchDigest(pdf)
		b.Run(fmt.Sprintf("%dMB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			b.ReportAllocs()
			for b.Loop() {
				resp := benchResponse(pdf, digest)
				r, f := s.readDocument(context.Background(), "tok", "https://bron.localhost/Binary/x", d, resp, nil)
				if f == nil {
					f = s.verify(r)
				}
				if f == nil {
					_, f = s.seal(Transfer{ID: "t"}, r, time.Now())
				}
				if f != nil {
					b.Fatal(f)
				}
			}
		})
	}
}

// BenchmarkHashCheck is the hash part of the check alone: SHA-1 against
// attachment.hash and SHA-256 against Content-Digest (RFC 9530), over bytes
// already read.
func BenchmarkHashCheck(b *testing.B) {
	for _, n := range receiveSizes {
		pdf := benchPDF(n)
		d := benchRemoteDoc(pdf)
		digest := benchDigest(pdf)
		b.Run(fmt.Sprintf("%dMB", n>>20), func(b *testing.B) {
			b.SetBytes(int64(len(pdf)))
			b.ReportAllocs()
			for b.Loop() {
				sum, ok := parseDigest(digest)
				if !ok {
					b.Fatal("digest")
				}
				r := received{ref: d, pdf: pdf, digest: sum, sums: sumsOf(pdf)}
				r.contentSHA256 = r.sums.sha256
				if f := checkHashes(r); f != nil {
					b.Fatal(f)
				}
			}
		})
	}
}

func benchResponse(pdf []byte, digest string) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Digest", digest)
	h.Set("ETag", `"x"`)
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(pdf)), ContentLength: int64(len(pdf))}
}

func sha1Of(b []byte) []byte { s := sha1.Sum(b); return s[:] }

func benchDigest(pdf []byte) string {
	sum := sha256.Sum256(pdf)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

func benchRemoteDoc(pdf []byte) remoteDoc {
	return remoteDoc{ID: "doc", URL: "https://bron.localhost/Binary/x", Size: int64(len(pdf)), Hash: sha1Of(pdf)}
}

// benchPDF is a well-formed PDF of about n bytes: one empty page and one stream
// object of random bytes, with a correct cross-reference table.
func benchPDF(n int) []byte {
	var buf bytes.Buffer
	buf.Grow(n + 1024)
	buf.WriteString("%PDF-1.7\n")
	var offs []int
	obj := func(body string) {
		offs = append(offs, buf.Len())
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
	payload := make([]byte, max(n-1024, 0))
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(payload)
	offs = append(offs, buf.Len())
	fmt.Fprintf(&buf, "4 0 obj\n<< /Length %d >>\nstream\n", len(payload))
	buf.Write(payload)
	buf.WriteString("\nendstream\nendobj\n")
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&buf, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return buf.Bytes()
}
