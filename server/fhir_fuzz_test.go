package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzByteRange: whatever Range and If-Range a peer sends for a Binary of size
// bytes, a partial answer lies within the document (0 <= first <= last < size),
// an unsatisfiable one (416) is never partial, and a full answer is the whole
// document (RFC 9110 §14.2, §15.5.17).
func FuzzByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=100-", "bytes=-500", "bytes=-0", "bytes=0-0,5-9",
		"bytes=9999999999999999999-", "items=0-1", "bytes=5-2", "BYTES = 3-4"} {
		f.Add(s, "", int64(105673))
	}
	f.Add("bytes=10-", `"v1"`, int64(20))
	f.Add("bytes=10-", `"other"`, int64(20))
	f.Fuzz(func(t *testing.T, spec, ifRange string, size int64) {
		if size < 0 {
			size = -(size + 1) // a document's size is never negative
		}
		r := httptest.NewRequest("GET", "/51/fhir/Binary/x", nil)
		r.Header.Set("Range", spec)
		if ifRange != "" {
			r.Header.Set("If-Range", ifRange)
		}
		first, last, partial, satisfiable := byteRange(r, `"v1"`, size, true)
		switch {
		case !satisfiable && partial:
			t.Fatalf("Range %q: unsatisfiable yet partial", spec)
		case partial && (first < 0 || first > last || last >= size):
			t.Fatalf("Range %q on %d bytes gives %d-%d", spec, size, first, last)
		case !partial && satisfiable && (first != 0 || last != size-1):
			t.Fatalf("Range %q: full answer %d-%d of %d bytes", spec, first, last, size)
		case partial && ifRange != "" && ifRange != `"v1"`:
			t.Fatalf("If-Range %q of another version still gave a range", ifRange)
		}
		if _, _, p, s := byteRange(r, `"v1"`, size, false); p || !s {
			t.Fatalf("Range %q honoured on a representation that has no ranges", spec)
		}
	})
}

// FuzzPreferAsync: the Prefer field (RFC 7240 §2) asks for respond-async only when
// it names that preference, and one more "respond-async" always asks for it.
func FuzzPreferAsync(f *testing.F) {
	for _, s := range []string{"respond-async", "respond-async, wait=10", "return=minimal", "wait=5;respond-async",
		`handling=lenient, RESPOND-ASYNC`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if preferAsync(h) && !strings.Contains(strings.ToLower(h), "respond-async") {
			t.Fatalf("Prefer %q taken as respond-async", h)
		}
		if !preferAsync(h + ", respond-async") {
			t.Fatalf("Prefer %q, respond-async not taken as respond-async", h)
		}
	})
}
