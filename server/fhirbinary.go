package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
)

// binary answers GET [base]/Binary/<id> (STU3 binary.html, http.html#binary): the
// PDF itself (Accept application/pdf, */* or none), or a Binary resource in FHIR
// JSON or XML (STU3 `content`; R4 `data` with fhirVersion=4.0). While the document
// renders: `Prefer: respond-async` gets 202 + Retry-After + X-Progress (FHIR
// async.html); a plain read is held up to PGO_HOLD_LIMIT (MedMij's scripts accept
// only 200) and then gets 503 + Retry-After. A failed render gets 500 with an
// OperationOutcome saying so.
func (a *fhirAPI) binary(c echo.Context) error {
	r := c.Request()
	f, ok := negotiate(r, true)
	if !ok {
		return writeOutcome(c, http.StatusNotAcceptable, "not-supported", "_format: use json or xml.")
	}
	job, ok, err := a.grantedJob(c, "Binary")
	if !ok {
		return err
	}
	async := preferAsync(r.Header.Get("Prefer"))
	hold := a.d.HoldLimit
	if async {
		hold = min(hold, asyncHold)
	}
	var held time.Duration
	if !job.Status.Final() {
		// the hold must not run into the server's write timeout (PGO_HOLD_LIMIT may exceed it)
		_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(hold + time.Minute))
		start := time.Now()
		if job, err = a.d.Exports.Await(r.Context(), job.ID, hold); err != nil {
			return a.internal(c, err)
		}
		// Await may hold a read for less than asked (none when the job's reads are
		// held up to their bound): Retry-After follows what was held.
		held = time.Since(start)
		// The patient may have withdrawn the consent (or the token expired)
		// while the request was held: what is served must be allowed now, not
		// only when the request came in.
		acc, ok, err := a.checkAccess(c)
		if !ok {
			return err
		}
		c.Set("fhir.access", acc)
	}
	switch job.Status {
	case export.StatusReady:
		return a.serveDocument(c, f, job)
	case export.StatusFailed:
		return writeOutcome(c, http.StatusInternalServerError, "exception",
			"The document could not be rendered: "+job.Failure+". Ask the patient to give consent again.")
	}
	retry := a.d.Exports.RetryAfter(held)
	h := c.Response().Header()
	h.Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
	if async {
		h.Set("X-Progress", fmt.Sprintf("rendering: %d%% (%d of %d items)", job.Percent(), job.Done, job.Total))
		h.Set("Content-Location", a.base+"/Binary/"+job.ID)
		return writeOutcome(c, http.StatusAccepted, "informational", "The document is being rendered; retry after the Retry-After seconds.")
	}
	return writeOutcome(c, http.StatusServiceUnavailable, "transient", "The document is still being rendered; retry after the Retry-After seconds.")
}

// asyncHold is how long a `Prefer: respond-async` read still waits for the render
// before it gets 202. respond-async is a preference the server may answer
// synchronously (RFC 7240 §4.1): answering 200 within that second is never
// later for the peer, and a render of a few hundred ms no longer costs a
// transfer a Retry-After round (issue 16). It is also the pace of a waiting
// peer's polls and of X-Progress: the 202's Retry-After is 0
// (Serving.RetryAfter), since the next request is held again.
const asyncHold = time.Second

// preferAsync reports whether a Prefer header (RFC 7240) asks for respond-async.
func preferAsync(h string) bool {
	for _, p := range strings.Split(h, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(p), ";")
		if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
			return true
		}
	}
	return false
}

// envelope is what a Binary representation puts around the base64 PDF (or nothing
// for the raw PDF). Base64 needs no escaping in JSON strings or XML attributes.
func envelope(f fhirFormat, id string) (prefix, suffix string) {
	field := "content"
	if f.r4 {
		field = "data"
	}
	switch {
	case f.pdf:
		return "", ""
	case f.xml:
		return `<?xml version="1.0" encoding="UTF-8"?><Binary xmlns="http://hl7.org/fhir"><id value="` + id +
			`"/><contentType value="application/pdf"/><` + field + ` value="`, `"/></Binary>`
	}
	return `{"resourceType":"Binary","id":"` + id + `","contentType":"application/pdf","` + field + `":"`, `"}`
}

// serveDocument writes the document in format f, with Content-Length, ETag (strong,
// per representation), Content-Digest and Repr-Digest (RFC 9530 §2, §3: SHA-256 of
// the content / of the whole representation). The raw PDF supports single byte
// ranges (RFC 9110 §14): 206 with Content-Range, honouring If-Range; a broken
// download resumes where it stopped. The document is streamed from encrypted
// storage; the list and every download are audited before the first byte.
func (a *fhirAPI) serveDocument(c echo.Context, f fhirFormat, job export.Job) error {
	r, h := c.Request(), c.Response().Header()
	prefix, suffix := envelope(f, job.ID)
	size := job.Size
	if !f.pdf {
		size = int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(job.Size))) + int64(len(suffix))
	}
	etag := `"` + hexString(job.SHA256[:]) + "-" + f.name() + `"`
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		h.Set("ETag", etag)
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	}
	repr := job.SHA256[:]
	if !f.pdf {
		var err error
		if repr, err = a.envelopeDigest(c, job, prefix, suffix); err != nil {
			return a.internal(c, err)
		}
	}
	first, last, partial, satisfiable := byteRange(r, etag, size, f.pdf)
	if !satisfiable {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return writeOutcome(c, http.StatusRequestedRangeNotSatisfiable, "invalid", "The requested range is outside the document.")
	}
	var doc io.ReadCloser
	if r.Method != http.MethodHead {
		// Opened before the audit record and the headers: a document other than
		// the one the job describes (export.Serving.Open compares them) gets a
		// 500 and no document_fetched record, not a 200 whose body breaks off.
		var err error
		if doc, err = a.d.Exports.Open(r.Context(), job); err != nil {
			return a.internal(c, err)
		}
		defer doc.Close()
	}
	details := map[string]string{"format": f.name()}
	if partial {
		details["range"] = fmt.Sprintf("%d-%d", first, last)
	}
	action := audit.ActDocumentFetched
	if doc == nil {
		// HEAD: size and digests went out, the document did not. An auditor
		// must not read a fetch that never happened.
		action, details["read"] = audit.ActDocumentListed, "Binary"
	}
	if err := a.record(c, accessOf(c), action, job, details); err != nil {
		return a.internal(c, err)
	}
	status := binaryHeaders(h, f, etag, repr, partial, first, last, size)
	c.Response().WriteHeader(status)
	if doc == nil {
		return nil // HEAD
	}
	// A large document to a slow peer may take longer than the server's write
	// timeout (meant for ordinary pages): give the body its own deadline.
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(30 * time.Minute))
	return a.stream(c, job.ID, doc, prefix, suffix, first, last, size)
}

// binaryHeaders sets the headers of a Binary response and returns its status: 206
// with Content-Range for a range, else 200 with Content-Digest.
func binaryHeaders(h http.Header, f fhirFormat, etag string, repr []byte, partial bool, first, last, size int64) int {
	ct := mimePDF
	if !f.pdf {
		ct = f.contentType()
	}
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(repr) + ":"
	h.Set(echo.HeaderContentType, ct)
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept")
	h.Set("ETag", etag)
	h.Set("Repr-Digest", digest)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(last-first+1, 10))
	if f.pdf {
		h.Set("Accept-Ranges", "bytes")
	}
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
		return http.StatusPartialContent
	}
	h.Set("Content-Digest", digest)
	return http.StatusOK
}

// stream writes bytes first..last of prefix + body + suffix (size bytes in all),
// where body is the PDF doc of job id (raw when prefix is empty) or its base64.
func (a *fhirAPI) stream(c echo.Context, id string, doc io.Reader, prefix, suffix string, first, last, size int64) error {
	w := &window{w: c.Response(), skip: first, left: last - first + 1}
	buf := make([]byte, 64<<10)
	var err error
	if prefix == "" {
		// When the window's last bytes are the document's last, they are held
		// back until doc has ended cleanly, since only at its end does doc know that
		// it is the document the job describes (its length, and for one sealed
		// without a declaration its SHA-256). A mismatch then breaks the
		// response off short, so the peer never has all of a wrong document.
		w.hold = last == size-1
		_, err = io.CopyBuffer(w, doc, buf)
		if err == nil || err == errWindowDone {
			err = w.release()
		}
	} else {
		_, _ = io.WriteString(w, prefix)
		enc := base64.NewEncoder(base64.StdEncoding, w)
		if _, err = io.CopyBuffer(enc, doc, buf); err == nil {
			err = enc.Close()
		}
		if err == nil {
			_, err = io.WriteString(w, suffix)
		}
	}
	if err != nil && err != errWindowDone {
		level := slog.LevelError
		if c.Request().Context().Err() != nil {
			level = slog.LevelInfo // the peer went away: it resumes with Range
		}
		a.s.log.Log(c.Request().Context(), level, "fhir: binary stream broken", "job", id, "error", err.Error())
		panic(http.ErrAbortHandler) // the peer must see a broken response, never a clean short one
	}
	return nil
}

// envelopeDigest is the SHA-256 of a Binary resource (prefix + base64 + suffix):
// one extra decrypting pass, so that the digest is known before the body is sent.
func (a *fhirAPI) envelopeDigest(c echo.Context, job export.Job, prefix, suffix string) ([]byte, error) {
	doc, err := a.d.Exports.Open(c.Request().Context(), job)
	if err != nil {
		return nil, err
	}
	defer doc.Close()
	sum := sha256.New()
	_, _ = io.WriteString(sum, prefix)
	enc := base64.NewEncoder(base64.StdEncoding, sum)
	if _, err := io.CopyBuffer(enc, doc, make([]byte, 64<<10)); err != nil {
		return nil, err
	}
	_ = enc.Close()
	_, _ = io.WriteString(sum, suffix)
	return sum.Sum(nil), nil
}

var errWindowDone = fmt.Errorf("range written")

// window passes on bytes skip..skip+left of what is written to it. With hold
// set it keeps the window's last write back (release sends it) and takes in
// what follows without passing it on, so that the source is read to its end.
type window struct {
	w          io.Writer
	skip, left int64
	hold       bool
	tail       []byte
}

func (w *window) Write(p []byte) (int, error) {
	n := len(p)
	if w.skip >= int64(len(p)) {
		w.skip -= int64(len(p))
		return n, nil
	}
	p = p[w.skip:]
	w.skip = 0
	if int64(len(p)) > w.left {
		p = p[:w.left]
	}
	if w.hold {
		if int64(len(p)) == w.left && w.tail == nil {
			w.tail = append([]byte{}, p...)
			w.left = 0
		}
		if w.left == 0 {
			return n, nil
		}
	}
	if len(p) > 0 {
		if _, err := w.w.Write(p); err != nil {
			return 0, err
		}
		w.left -= int64(len(p))
	}
	if w.left == 0 {
		return n, errWindowDone
	}
	return n, nil
}

// release sends what hold kept back.
func (w *window) release() error {
	if w.tail == nil {
		return nil
	}
	_, err := w.w.Write(w.tail)
	w.tail = nil
	return err
}

// byteRange reads a Range header (RFC 9110 §14.2): one range of bytes, honoured
// only for the raw PDF and only when If-Range (if any) names the current ETag; any
// other form is ignored (a full 200, as §14.2 allows). satisfiable is false when the
// range starts beyond the end (416).
func byteRange(r *http.Request, etag string, size int64, allowed bool) (first, last int64, partial, satisfiable bool) {
	last = size - 1
	spec := r.Header.Get("Range")
	if !allowed || spec == "" || size == 0 {
		return 0, last, false, true
	}
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		return 0, last, false, true
	}
	unit, set, ok := strings.Cut(spec, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		return 0, last, false, true
	}
	a, b, ok := strings.Cut(strings.TrimSpace(set), "-")
	if !ok {
		return 0, last, false, true
	}
	if a == "" { // suffix range: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, last, false, true
		}
		if n == 0 {
			return 0, last, false, false // "bytes=-0" selects nothing
		}
		return max(size-n, 0), last, true, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, last, false, true
	}
	if start >= size {
		return 0, last, false, false
	}
	end := last
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, last, false, true
		}
		end = min(end, last)
	}
	return start, end, true, true
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

func itoa(n int) string { return strconv.Itoa(n) }
