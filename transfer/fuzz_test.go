package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

// The fuzz targets of the target role's parsers (issue 17): what a source sends
// back (the DocumentReference search Bundle, the Binary, the PDF) and the header
// fields the download reads (Content-Digest, Retry-After, Content-Range). Plain
// `go test` runs their seed corpora (testdata/fuzz/FuzzX) as unit tests;
// scripts/fuzz.sh runs each for a few seconds.

const fuzzBase = "https://noord.localhost:8443/51/fhir"

// checkFailure wants a refusal with a known reason and a precise, non-empty detail.
func checkFailure(t *testing.T, f *Failure) {
	t.Helper()
	if _, known := reasonRetry[f.Reason]; !known || strings.TrimSpace(f.Detail) == "" {
		t.Fatalf("refusal without a known reason or detail: %+v", f)
	}
}

// exampleFiles are the MedMij portability example's Binary (JSON) and the PDF in it.
func exampleFiles(f *testing.F) (binary, pdf, docRef []byte) {
	binary, err := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	if err != nil {
		f.Fatal(err)
	}
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(binary, &b); err != nil {
		f.Fatal(err)
	}
	docRef, err = os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		f.Fatal(err)
	}
	return binary, b.Content, docRef
}

// parsePage reads body as the only page of a search result (as list does the
// first): the documents it lists, its next link (checked, not followed), or why
// it is refused. Without a next link it is the last page, and its Bundle.total
// is checked as list checks it.
func parsePage(base string, body []byte) ([]remoteDoc, string, *Failure) {
	l := listing{base: base, asked: map[string]int{base + "/DocumentReference?status=current": 1}}
	next, f := l.add(body)
	if f == nil && next == "" {
		f = l.complete()
	}
	if f != nil {
		return nil, "", f
	}
	docs, f := l.result()
	if f != nil {
		return nil, "", f
	}
	return docs, next, nil
}

// parseList is parsePage without the next link.
func parseList(base string, body []byte) ([]remoteDoc, *Failure) {
	docs, _, f := parsePage(base, body)
	return docs, f
}

// FuzzParseList: the search result either yields PDF documents that all lie under
// the source's own FHIR base as Binary/{id} (the bearer token goes nowhere else),
// or is refused with a reason.
func FuzzParseList(f *testing.F) {
	_, _, docRef := exampleFiles(f)
	f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"` + fuzzBase +
		`/DocumentReference/x","resource":` + string(docRef) + `,"search":{"mode":"match"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxBundleBytes { // list() refuses these before parsing
			return
		}
		docs, next, fl := parsePage(fuzzBase, body)
		if fl != nil {
			checkFailure(t, fl)
			return
		}
		q := strings.TrimPrefix(next, fuzzBase+"/DocumentReference?")
		for _, at := range []string{fuzzBase + "?", fuzzBase + "/?"} {
			if q == next && strings.HasPrefix(next, at) && strings.Contains(next, "_getpages=") {
				q = strings.TrimPrefix(next, at)
			}
		}
		if next != "" && (q == next || q == "" || strings.Contains(q, "#")) {
			t.Fatalf("accepted a next link %q", next)
		}
		if len(docs) == 0 {
			t.Fatal("accepted a list without documents")
		}
		for _, d := range docs {
			id := strings.TrimPrefix(d.URL, fuzzBase+"/Binary/")
			if d.ID == "" || id == d.URL || id == "" || strings.ContainsAny(id, "/?#") {
				t.Fatalf("accepted document %q at %q", d.ID, d.URL)
			}
			if d.Size < 0 || len(d.Hash) != 0 && len(d.Hash) != 20 {
				t.Fatalf("accepted attachment size %d, hash of %d bytes", d.Size, len(d.Hash))
			}
		}
	})
}

// FuzzBinaryContent: a Binary is valid FHIR with contentType application/pdf and
// content, or refused with a reason.
func FuzzBinaryContent(f *testing.F) {
	binary, _, _ := exampleFiles(f)
	f.Add(binary)
	f.Add([]byte(`{"resourceType":"Binary","contentType":"application/pdf","data":"JVBERi0xLjQKJSVFT0YK"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pdf, fl := binaryContent("doc-1", body)
		if fl != nil {
			checkFailure(t, fl)
			return
		}
		if len(pdf) == 0 {
			t.Fatal("accepted a Binary without content")
		}
	})
}

// FuzzCheckPDF: whatever checkPDF accepts starts with %PDF-, has %%EOF in its last
// kilobyte and was read by pdfcpu; anything else is not_pdf.
func FuzzCheckPDF(f *testing.F) {
	_, pdf, _ := exampleFiles(f)
	f.Add(pdf)
	f.Add(minimalPDF)
	f.Fuzz(func(t *testing.T, pdf []byte) {
		fl := checkPDF("doc-1", pdf)
		if fl != nil {
			checkFailure(t, fl)
			if fl.Reason != ReasonNotPDF {
				t.Fatalf("reason %s", fl.Reason)
			}
			return
		}
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf[max(0, len(pdf)-1024):], []byte("%%EOF")) {
			t.Fatal("accepted bytes without PDF header or trailer")
		}
	})
}

// minimalPDF is a one-page PDF with a correct cross-reference table.
var minimalPDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" +
	"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n" +
	"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \n" +
	"trailer<</Size 4/Root 1 0 R>>\nstartxref\n165\n%%EOF\n")

// FuzzParseDigest: an accepted sha-256 member is 32 bytes and survives being
// written back as a Content-Digest field (RFC 9530 §2).
func FuzzParseDigest(f *testing.F) {
	sum := sha256.Sum256([]byte("%PDF-1.4"))
	good := ":" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	for _, s := range []string{"sha-256=" + good, "sha-512=:AAAA:, sha-256=" + good, "sha-256=:AAAA:", "", "sha-256=" + good + ", sha-256=:AA==:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		got, ok := parseDigest(field)
		if !ok || got == nil {
			return
		}
		if len(got) != sha256.Size {
			t.Fatalf("digest of %d bytes", len(got))
		}
		again, ok := parseDigest("sha-256=:" + base64.StdEncoding.EncodeToString(got) + ":")
		if !ok || !bytes.Equal(again, got) {
			t.Fatal("digest does not round-trip")
		}
	})
}

// FuzzRetryAfter: an accepted Retry-After (delay-seconds or HTTP-date, RFC 9110
// §10.2.3) is never a negative wait.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"3", "0", "120", "Thu, 03 Dec 2026 12:00:05 GMT", "Wed, 02 Dec 2026 12:00:00 GMT", "-1", "1.5", "9999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, now)
		if ok && d < 0 {
			t.Fatalf("Retry-After %q gives %s", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("refused Retry-After %q gives %s", v, d)
		}
	})
}

// FuzzRangeStart: the first byte of a Content-Range (RFC 9110 §14.4) is -1 for a
// field that is not "bytes a-b/n", else a position that lies within the range.
func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes 5-9/*", "bytes */200", "bytes -5-3/10", "items 1-2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a := rangeStart(v)
		if a < -1 {
			t.Fatalf("Content-Range %q starts at %d", v, a)
		}
	})
}
