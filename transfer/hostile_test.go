package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/transfer"
)

// A hostile source, as a real mutual-TLS server: what it announces or repeats
// must not make the target reserve memory, fetch twice or store twice, and what
// it writes must not end up at length in failure_detail or the log.

// withContents sets the DocumentReference's content to n copies of its first
// entry with attachment.size = size; distinct gives each its own Binary URL.
func withContents(t *testing.T, e *env, n int, size int64, distinct bool) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(e.src.DocRef, &doc); err != nil {
		t.Fatal(err)
	}
	first := doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
	content := make([]any, n)
	for i := range content {
		att := map[string]any{}
		for k, v := range first {
			att[k] = v
		}
		att["size"] = size
		if distinct {
			att["url"] = first["url"].(string) + "-" + strconv.Itoa(i)
		}
		content[i] = map[string]any{"attachment": att}
	}
	doc["content"] = content
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	e.src.DocRef = raw
}

// heapRise runs f and returns how far HeapAlloc rose above its level before f,
// sampled every 2 ms.
func heapRise(f func()) uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapAlloc
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		peak := base
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				peak = max(peak, s.HeapAlloc)
			}
		}
	}()
	f()
	close(stop)
	return <-done - base
}

// binaryGETs counts the source's Binary reads.
func binaryGETs(e *env) int {
	n := 0
	for _, s := range e.src.Seen() {
		if strings.Contains(s.Path, "/Binary/") {
			n++
		}
	}
	return n
}

// TestHostileAnnouncedSize: the memory of a transfer follows the bytes that
// arrive, not what attachment.size announces, and a list of more documents than
// one transfer carries is refused before anything is downloaded.
func TestHostileAnnouncedSize(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name   string
		n      int
		bound  uint64
		reason transfer.Reason
		gets   int // -1: any
	}{
		// The review's construction (40 entries announcing 8 MiB each, 105 KB
		// served) rose the heap by 321 MiB; each has its own URL here so that
		// the count is what is refused, not a repetition.
		{"forty announcing the maximum", 40, 64 * mib, transfer.ReasonBadBundle, 0},
		// As many as allowed, each announcing the maximum: downloaded, then
		// failing as truncated, with buffers sized by the bytes that came.
		{"eight announcing the maximum", 8, 32 * mib, transfer.ReasonTruncated, -1},
		// More together than eight of the largest allowed: refused up front.
		{"eight announcing over the maximum", 8, 32 * mib, transfer.ReasonTooLarge, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			size := int64(8 << 20) // the maximum document size of newEnv
			if tc.reason == transfer.ReasonTooLarge {
				size++
			}
			withContents(t, e, tc.n, size, true)
			tr := e.consent(t)
			var got transfer.Transfer
			peak := heapRise(func() { got = e.fetch(t, tr.ID) })
			t.Logf("heap rose by %.1f MiB", float64(peak)/mib)
			if got.Status != transfer.StatusFailed || got.Failure != tc.reason {
				t.Errorf("status %s, reason %s (%s); want failed, %s", got.Status, got.Failure, got.FailureDetail, tc.reason)
			}
			if peak > tc.bound {
				t.Errorf("heap rose by %d MiB during the fetch; want at most %d MiB", peak/mib, tc.bound/mib)
			}
			if n := binaryGETs(e); tc.gets >= 0 && n != tc.gets {
				t.Errorf("%d Binary reads; want %d", n, tc.gets)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored; want none", n)
			}
		})
	}
}

// duplicateEntry serves the search result with its DocumentReference entry
// twice, the copy pointing to Binary url.
func duplicateEntry(t *testing.T, e *env, url string) {
	t.Helper()
	orig := e.src.Server.Config.Handler
	e.src.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/DocumentReference") {
			orig.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		orig.ServeHTTP(rec, r)
		var b map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &b) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		entry := b["entry"].([]any)[0].(map[string]any)
		raw, _ := json.Marshal(entry)
		var dup map[string]any
		_ = json.Unmarshal(raw, &dup)
		res := dup["resource"].(map[string]any)
		res["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)["url"] = url
		b["entry"] = []any{entry, dup}
		b["total"] = 2
		w.Header().Set("Content-Type", "application/fhir+json")
		_ = json.NewEncoder(w).Encode(b)
	})
}

// TestHostileRepeatedDocuments: a list that names one Binary or one
// DocumentReference more than once is refused before any download, so the
// document is neither fetched nor stored once per repetition.
func TestHostileRepeatedDocuments(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *env)
	}{
		{"one Binary sixty times", func(t *testing.T, e *env) { withContents(t, e, 60, 0, false) }},
		{"one Binary twice", func(t *testing.T, e *env) { withContents(t, e, 2, 0, false) }},
		{"one DocumentReference twice", func(t *testing.T, e *env) { duplicateEntry(t, e, "Binary/andere") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			tc.setup(t, e)
			tr := e.fetch(t, e.consent(t).ID)
			if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonBadBundle {
				t.Errorf("status %s, reason %s (%s); want failed, bad_bundle", tr.Status, tr.Failure, tr.FailureDetail)
			}
			if n := binaryGETs(e); n != 0 {
				t.Errorf("%d Binary reads; want none", n)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored; want none", n)
			}
		})
	}
}

// TestHostileLongContentType: a Binary whose contentType is 1 MiB starting with
// a BSN-like number fails as not_pdf with a short detail and a short error,
// neither repeating the number (ASVS 5.0 V16: no sensitive data in logs).
func TestHostileLongContentType(t *testing.T) {
	e := newEnv(t, true, nil)
	orig := e.src.Server.Config.Handler
	ctype := "BSN-123456782-" + strings.Repeat("A", 1<<20)
	e.src.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/Binary/") {
			orig.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"resourceType": "Binary", "contentType": ctype,
			"content": base64.StdEncoding.EncodeToString(e.pdf)})
	})
	tr := e.consent(t)
	err := e.svc.Fetch(context.Background(), tr.ID, true)
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusFailed || got.Failure != transfer.ReasonNotPDF {
		t.Errorf("status %s, reason %s; want failed, not_pdf", got.Status, got.Failure)
	}
	if n := len(got.FailureDetail); n > 220 || strings.Contains(got.FailureDetail, "123456782") {
		t.Errorf("failure_detail of %d bytes (want at most 220, without the number): %.120q", n, got.FailureDetail)
	}
	if err == nil {
		t.Fatal("Fetch returned no error")
	}
	if msg := err.Error(); len(msg) > 400 || strings.Contains(msg, "123456782") {
		t.Errorf("error of %d bytes (want at most 400, without the number): %.120q", len(msg), msg)
	}
}

// TestHostileResumeNewVersion: a resumed download answered with 200 (a new
// version, RFC 9110 §13.1.5 If-Range) is checked against the new response's
// Content-Digest, not the first one's.
func TestHostileResumeNewVersion(t *testing.T) {
	e := newEnv(t, true, nil)
	a := e.pdf
	b := append(bytes.Clone(a), '\n') // after %%EOF: still the same valid PDF
	digest := func(p []byte) string {
		sum := sha256.Sum256(p)
		return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	}
	orig := e.src.Server.Config.Handler
	var mu sync.Mutex
	reads := 0
	e.src.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/Binary/") {
			orig.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		reads++
		first := reads == 1
		mu.Unlock()
		body, etag := b, `"v2"`
		if first {
			body, etag = a, `"v1"`
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("ETag", etag)
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Digest", digest(body))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if first {
			_, _ = w.Write(body[:1000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection breaks mid-body
		}
		_, _ = w.Write(body)
	})
	tr := e.fetch(t, e.consent(t).ID)
	if tr.Status != transfer.StatusDone {
		t.Fatalf("status %s, reason %s (%s); want done", tr.Status, tr.Failure, tr.FailureDetail)
	}
	if got := e.open(t, tr.ID); !bytes.Equal(got, b) {
		t.Errorf("stored %d bytes; want the new version's %d", len(got), len(b))
	}
	mu.Lock()
	defer mu.Unlock()
	if reads != 2 {
		t.Errorf("%d Binary reads; want 2 (the first broke, the resume got the new version)", reads)
	}
}
