package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// download fetches one Binary: GET with Prefer: respond-async (FHIR asynchronous
// request pattern), following 202 + Retry-After (each wait capped at PollCap, all
// waits together bounded by PollTotal), then reading the body, resuming with Range
// (RFC 9110 §14.2) when the connection breaks. It accepts raw application/pdf and a
// FHIR Binary (STU3 `content`, R4 `data`, base64). progress gets the bytes read.
func (s *Service) download(ctx context.Context, token string, d remoteDoc, progress func(int64)) (received, *Failure) {
	deadline := s.c.Now().Add(s.c.PollTotal)
	target := d.URL
	hdr := http.Header{"Accept": {"application/pdf, application/fhir+json;q=0.9"}, "Prefer": {"respond-async"}}
	for {
		rctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
		resp, f := s.do(rctx, http.MethodGet, target, token, hdr)
		if f != nil {
			cancel()
			return received{}, f
		}
		if resp.StatusCode == http.StatusAccepted {
			drain(resp)
			cancel()
			wait, ok := retryAfter(resp.Header.Get("Retry-After"), s.c.Now())
			if !ok {
				wait = time.Second
			}
			wait = min(max(wait, 10*time.Millisecond), s.c.PollCap)
			if s.c.Now().Add(wait).After(deadline) {
				return received{}, transient(ReasonRenderTimeout, "document %s was still not ready after %s", d.ID, s.c.PollTotal)
			}
			if loc := resp.Header.Get("Content-Location"); loc != "" {
				if u, ok := sameOrigin(d.URL, loc); ok {
					target = u
				}
			}
			if err := sleep(ctx, wait); err != nil {
				return received{}, transient(ReasonUnavailable, "stopped while waiting for the document")
			}
			continue
		}
		r, f := s.readDocument(rctx, token, target, d, resp, progress)
		cancel()
		return r, f
	}
}

// readDocument reads a 200 response into a received document.
func (s *Service) readDocument(ctx context.Context, token, target string, d remoteDoc, resp *http.Response, progress func(int64)) (received, *Failure) {
	if resp.StatusCode != http.StatusOK {
		drain(resp)
		return received{}, fail(ReasonHTTP, "the source answered %d for document %s", resp.StatusCode, d.ID)
	}
	digest, ok := parseDigest(resp.Header.Get("Content-Digest"))
	if !ok {
		drain(resp)
		return received{}, fail(ReasonDigestMismatch, "Content-Digest of document %s is malformed", d.ID)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	limit := s.c.MaxDocumentBytes
	isJSON := mt == "application/fhir+json" || mt == "application/json"
	if isJSON {
		limit = limit/3*4 + 64<<10 // base64 plus the JSON around it
	} else if mt != "" && mt != "application/pdf" && mt != "application/octet-stream" {
		drain(resp)
		return received{}, fail(ReasonNotPDF, "document %s came as %q, not a PDF or a FHIR Binary", d.ID, mt)
	}
	expect := d.Size
	if isJSON {
		expect = 0 // base64 in JSON: Content-Length alone tells
	}
	h := newHasher()
	body, f := s.readBody(ctx, token, target, resp, limit, expect, h, progress)
	if f != nil {
		return received{}, f
	}
	r := received{ref: d, pdf: body, digest: digest, sums: h.sums()}
	r.contentSHA256 = r.sums.sha256
	if isJSON {
		if r.pdf, f = binaryContent(d.ID, body); f != nil {
			return received{}, f
		}
		r.sums = sumsOf(r.pdf)
	}
	return r, nil
}

// readBody reads the whole body, at most limit bytes (more is too_large), into
// one buffer sized up front (Content-Length, else expect, the announced size),
// and writes every byte to h on the way, so the hashes are taken in the same pass.
// When the connection breaks it asks for the rest with Range (and If-Range on the
// validator) up to s.c.Resumes times; a 200 instead of a 206 starts over.
func (s *Service) readBody(ctx context.Context, token, target string, resp *http.Response, limit, expect int64, h *hasher, progress func(int64)) ([]byte, *Failure) {
	var buf bytes.Buffer
	if n := max(resp.ContentLength, expect); n > 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead) // ReadFrom wants MinRead free before it sees EOF
	}
	validator := resp.Header.Get("ETag")
	if validator == "" {
		validator = resp.Header.Get("Last-Modified")
	}
	for resumes := 0; ; resumes++ {
		_, err := buf.ReadFrom(io.TeeReader(&countingReader{r: io.LimitReader(resp.Body, limit+1-int64(buf.Len())), n: progress}, h))
		resp.Body.Close()
		if int64(buf.Len()) > limit {
			return nil, fail(ReasonTooLarge, "the document is larger than %d bytes", s.c.MaxDocumentBytes)
		}
		if err == nil {
			return buf.Bytes(), nil
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// A slow drip: resuming on this request's spent deadline cannot help.
			return nil, transient(ReasonTooSlow, "the source sent %d bytes of the document within %s (PGO_TRANSFER_REQUEST_TIMEOUT) and was cut off",
				buf.Len(), s.c.RequestTimeout)
		}
		if resumes >= s.c.Resumes || validator == "" && resp.Header.Get("Accept-Ranges") != "bytes" {
			return nil, transient(ReasonTruncated, "the connection broke after %d bytes and could not be resumed", buf.Len())
		}
		hdr := http.Header{"Range": {fmt.Sprintf("bytes=%d-", buf.Len())}}
		if validator != "" {
			hdr.Set("If-Range", validator)
		}
		next, f := s.do(ctx, http.MethodGet, target, token, hdr)
		if f != nil {
			return nil, f
		}
		switch {
		case next.StatusCode == http.StatusPartialContent && rangeStart(next.Header.Get("Content-Range")) == int64(buf.Len()):
		case next.StatusCode == http.StatusOK:
			buf.Reset()
			h.Reset()
		default:
			drain(next)
			return nil, fail(ReasonTruncated, "the source did not resume the download (status %d)", next.StatusCode)
		}
		resp = next
	}
}

// countingReader reports the bytes read to n.
type countingReader struct {
	r io.Reader
	n func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if k > 0 && c.n != nil {
		c.n(int64(k))
	}
	return k, err
}

// rangeStart returns the first byte position of a Content-Range "bytes a-b/n"
// (RFC 9110 §14.4), -1 when the field is not that or the range is invalid: a
// negative start or an end before the start (Sscanf's %d reads "-5", found by
// FuzzRangeStart).
func rangeStart(v string) int64 {
	var a, b int64
	var total string
	if _, err := fmt.Sscanf(v, "bytes %d-%d/%s", &a, &b, &total); err != nil || a < 0 || b < a {
		return -1
	}
	return a
}

// binaryContent validates a FHIR Binary strictly (STU3, else R4) and returns the
// PDF it carries: `content` in STU3 (§2.40 Binary), `data` in R4.
func binaryContent(id string, body []byte) ([]byte, *Failure) {
	e := fhir.Entry{Index: -1, Source: "Binary", JSON: body}
	v, err := fhir.Detect([]fhir.Entry{e})
	if err == nil {
		_, err = fhir.Validate(v, []fhir.Entry{e})
	}
	if err != nil {
		return nil, fail(ReasonBadBinary, "the Binary of document %s is not valid FHIR: %v", id, err)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		ContentType  string `json:"contentType"`
		Content      []byte `json:"content"`
		Data         []byte `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Binary" {
		return nil, fail(ReasonBadBinary, "the answer for document %s is not a Binary", id)
	}
	if !strings.EqualFold(b.ContentType, "application/pdf") {
		return nil, fail(ReasonNotPDF, "the Binary of document %s has contentType %q", id, b.ContentType)
	}
	pdf := b.Content
	if v == fhir.R4 {
		pdf = b.Data
	}
	if len(pdf) == 0 {
		return nil, fail(ReasonBadBinary, "the Binary of document %s carries no content", id)
	}
	return pdf, nil
}

// sameOrigin resolves loc against base and accepts it only on the same origin.
func sameOrigin(base, loc string) (string, bool) {
	b, err1 := url.Parse(base)
	l, err2 := url.Parse(loc)
	if err1 != nil || err2 != nil {
		return "", false
	}
	abs := b.ResolveReference(l)
	return abs.String(), abs.Scheme == b.Scheme && abs.Host == b.Host
}
