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
	rep, f := s.representationOf(resp, d)
	if f != nil {
		drain(resp)
		return received{}, f
	}
	h := newHasher()
	body, f := s.readBody(ctx, token, target, d, resp, &rep, h, progress)
	if f != nil {
		return received{}, f
	}
	r := received{ref: d, pdf: body, digest: rep.digest, sums: h.sums()}
	r.contentSHA256 = r.sums.sha256
	if rep.isJSON {
		if r.pdf, f = binaryContent(d.ID, body); f != nil {
			return received{}, f
		}
		r.sums = sumsOf(r.pdf)
	}
	return r, nil
}

// representation is what a 200 response says about the bytes it carries.
type representation struct {
	digest []byte // Content-Digest (RFC 9530), nil when absent
	isJSON bool   // a FHIR Binary rather than the raw PDF
	limit  int64  // the most body bytes taken; more is too_large
}

// representationOf reads the headers of a 200 response: the first one, and the
// one that restarts a resumed download (If-Range answered with the whole of a
// new version, RFC 9110 §13.1.5), whose digest and type are its own.
func (s *Service) representationOf(resp *http.Response, d remoteDoc) (representation, *Failure) {
	digest, ok := parseDigest(resp.Header.Get("Content-Digest"))
	if !ok {
		return representation{}, fail(ReasonDigestMismatch, "Content-Digest of document %s is malformed", d.ID)
	}
	rep := representation{digest: digest, limit: s.c.MaxDocumentBytes}
	switch mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt {
	case "application/fhir+json", "application/json":
		rep.isJSON = true
		rep.limit = rep.limit/3*4 + 64<<10 // base64 plus the JSON around it
	case "", "application/pdf", "application/octet-stream":
	default:
		return representation{}, fail(ReasonNotPDF, "document %s came as %s, not a PDF or a FHIR Binary", d.ID, echo(mt))
	}
	return rep, nil
}

// maxPrealloc bounds the buffer reserved before the body arrives. Content-Length
// and attachment.size are the source's word: reserving what they announce let a
// list of documents each announcing the maximum hold that maximum per document
// while only a few bytes came. The buffer grows with the bytes that do arrive,
// up to rep.limit.
const maxPrealloc = 1 << 20

// readBody reads the whole body, at most rep.limit bytes (more is too_large),
// and writes every byte to h on the way, so the hashes are taken in the same
// pass. When the connection breaks it asks for the rest with Range (and
// If-Range on the validator) up to s.c.Resumes times; a 200 instead of a 206
// starts over with that response's representation (rep is replaced).
func (s *Service) readBody(ctx context.Context, token, target string, d remoteDoc, resp *http.Response, rep *representation, h *hasher, progress func(int64)) ([]byte, *Failure) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= rep.limit {
		buf.Grow(int(min(n, maxPrealloc)) + bytes.MinRead) // ReadFrom wants MinRead free before it sees EOF
	}
	validator := validatorOf(resp)
	for resumes := 0; ; resumes++ {
		_, err := buf.ReadFrom(io.TeeReader(&countingReader{r: io.LimitReader(resp.Body, rep.limit+1-int64(buf.Len())), n: progress}, h))
		resp.Body.Close()
		if int64(buf.Len()) > rep.limit {
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
			// A new version: its digest, type and validator replace the first's.
			r, f := s.representationOf(next, d)
			if f != nil {
				drain(next)
				return nil, f
			}
			*rep, validator = r, validatorOf(next)
			buf.Reset()
			h.Reset()
		default:
			drain(next)
			return nil, fail(ReasonTruncated, "the source did not resume the download (status %d)", next.StatusCode)
		}
		resp = next
	}
}

// validatorOf returns the validator If-Range repeats (RFC 9110 §13.1.5): the
// ETag, else Last-Modified.
func validatorOf(resp *http.Response) string {
	if v := resp.Header.Get("ETag"); v != "" {
		return v
	}
	return resp.Header.Get("Last-Modified")
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
		return nil, fail(ReasonBadBinary, "the Binary of document %s is not valid FHIR: %s", id, clip(err.Error(), 2*maxEcho))
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
		return nil, fail(ReasonNotPDF, "the Binary of document %s has contentType %s", id, echo(b.ContentType))
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
