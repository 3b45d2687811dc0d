package transfertest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// search answers GET [base]/DocumentReference?status=current with a searchset
// Bundle holding the DocumentReference (attachment size and hash per the faults),
// one page of Faults.Pages (_page=n) for a paging source. Any other search is a
// 400, as Nictiz's test scripts expect.
func (s *Source) search(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	f := s.f()
	q := r.URL.Query()
	page := 1
	var err error
	hapi := !strings.HasSuffix(r.URL.Path, "/DocumentReference")
	switch {
	case hapi && f.HAPIPaging && q.Has("_getpages"): // [base]?_getpages=n, nothing else
		page, err = strconv.Atoi(q.Get("_getpages"))
		q.Del("_getpages")
		q.Set("status", "current")
	case hapi:
		err = strconv.ErrSyntax
	case q.Has("_page") && (f.Pages > 0 || f.NextLink != ""): // only a paging source knows _page
		page, err = strconv.Atoi(q.Get("_page"))
		q.Del("_page")
	}
	if err != nil || page < 1 || len(q) != 1 || q.Get("status") != "current" {
		http.Error(w, "only status=current", http.StatusBadRequest)
		return
	}
	if f.BadBundle {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"DocumentReference","status":"bogus"}}]}`))
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(s.DocRef, &doc); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	att := doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
	if f.AnnounceSize {
		att["size"] = int64(len(s.Doc)) + f.SizeDelta
	}
	if f.AnnounceHash {
		sum := sha1.Sum(s.Doc)
		if f.WrongHash {
			sum = sha1.Sum(append([]byte("x"), s.Doc...))
		}
		att["hash"] = base64.StdEncoding.EncodeToString(sum[:])
	}
	base := "https://" + r.Host + strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/DocumentReference"), "/")
	links := []any{map[string]any{"relation": "self", "url": "https://" + r.Host + r.URL.Path + "?" + r.URL.RawQuery}}
	if page > 1 { // the page's own DocumentReference and Binaries
		doc["id"] = doc["id"].(string) + "-p" + strconv.Itoa(page)
		for _, c := range doc["content"].([]any) {
			a := c.(map[string]any)["attachment"].(map[string]any)
			a["url"] = a["url"].(string) + "-p" + strconv.Itoa(page)
		}
	}
	if page < f.Pages && f.HAPIPaging {
		links = append(links, map[string]any{"relation": "next", "url": base + "?_getpages=" + strconv.Itoa(page+1)})
	} else if page < f.Pages {
		links = append(links, map[string]any{"relation": "next", "url": base + "/DocumentReference?status=current&_page=" + strconv.Itoa(page+1)})
	} else if f.NextLink != "" {
		links = append(links, map[string]any{"relation": "next", "url": strings.ReplaceAll(f.NextLink, "{base}", base)})
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": max(f.Pages, 1),
		"link":  links,
		"entry": []any{map[string]any{"fullUrl": base + "/DocumentReference/" + doc["id"].(string), "resource": doc, "search": map[string]any{"mode": "match"}}}}
	if n := len(f.Totals); n > 0 {
		bundle["total"] = f.Totals[min(page, n)-1]
		if f.Totals[min(page, n)-1] < 0 {
			delete(bundle, "total")
		}
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(bundle)
}

// binary answers GET [base]/Binary/{id}: 202 + Retry-After while "rendering" (only
// with Prefer: respond-async), then the document raw or as a FHIR Binary, with
// Range support, Content-Digest and the faults.
func (s *Source) binary(w http.ResponseWriter, r *http.Request) {
	if gate := s.f().Gate; gate != nil {
		select {
		case <-r.Context().Done():
			return
		case <-gate:
		}
	}
	f := s.f()
	if f.ExpireBinary {
		s.Expire()
	}
	if !s.authorized(w, r) {
		return
	}
	if s.misdirect(f, w, r) {
		return
	}
	if s.accept(f, r) {
		ra := f.RetryAfter
		if ra == "" {
			ra = "1"
		}
		w.Header().Set("Retry-After", ra)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	body, ctype := s.representation(f, r.PathValue("id"))
	if f.Gzip == "always" || f.Gzip == "asked" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = gz.Bytes()
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", `"v1"`)
	w.Header().Set("Accept-Ranges", "bytes")
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !f.BreakAlways && r.Header.Get("If-Range") == `"v1"` {
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-")); err == nil && n < len(body) {
			start = n
		}
	}
	if f.Digest || f.WrongDigest {
		sum := sha256.Sum256(body[start:])
		if f.WrongDigest {
			sum = sha256.Sum256(append([]byte("x"), body...))
		}
		w.Header().Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	}
	if f.LengthDelta != 0 {
		rawResponse(w, ctype, body, len(body)+f.LengthDelta)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)-start))
	status := http.StatusOK
	if start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(body)-1, len(body)))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if cut := s.cutAt(f, start); cut > 0 && cut < len(body)-start {
		_, _ = w.Write(body[start : start+cut])
		w.(http.Flusher).Flush()
		if f.Stall {
			<-r.Context().Done() // silent, the connection open, until the client gives up
			return
		}
		panic(http.ErrAbortHandler) // the connection breaks mid-body
	}
	if f.Trickle > 0 {
		for rest := body[start:]; len(rest) > 0; rest = rest[min(4096, len(rest)):] {
			if _, err := w.Write(rest[:min(4096, len(rest))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(f.Trickle)
		}
		return
	}
	_, _ = w.Write(body[start:])
}

// misdirect answers the faults that replace the document: a 503 (counted) or a
// redirect. It reports whether it answered.
func (s *Source) misdirect(f Faults, w http.ResponseWriter, r *http.Request) bool {
	if f.RedirectTo != "" {
		http.Redirect(w, r, f.RedirectTo, http.StatusFound)
		return true
	}
	s.mu.Lock()
	fail := s.failed < f.Fail5xx
	if fail {
		s.failed++
	}
	s.mu.Unlock()
	if fail {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "try again", http.StatusServiceUnavailable)
	}
	return fail
}

// rawResponse writes a 200 with the given Content-Length straight onto the
// connection and closes it: a source whose framing lies about the body.
func rawResponse(w http.ResponseWriter, ctype string, body []byte, length int) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", ctype, length)
	_, _ = rw.Write(body)
	_ = rw.Flush()
}

// accept reports whether this read gets a 202 (counting it).
func (s *Source) accept(f Faults, r *http.Request) bool {
	if f.Accepted == 0 || r.Header.Get("Prefer") != "respond-async" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Accepted > 0 && s.accepted >= f.Accepted {
		return false
	}
	s.accepted++
	return true
}

// cutAt returns after how many bytes this response breaks (0: it does not).
func (s *Source) cutAt(f Faults, start int) int {
	if f.BreakAt == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.BreakAlways {
		return f.BreakAt
	}
	if s.broken || start > 0 {
		return 0
	}
	s.broken = true
	return f.BreakAt
}

// representation returns the bytes served for the document and their media type.
func (s *Source) representation(f Faults, id string) ([]byte, string) {
	doc := s.Doc
	if f.Body != nil {
		doc = f.Body
	}
	if f.Truncate {
		doc = doc[:len(doc)/2]
	}
	if f.Extra != nil {
		doc = append(append([]byte{}, doc...), f.Extra...)
	}
	switch f.Mode {
	case "stu3", "r4":
		field := "content"
		if f.Mode == "r4" {
			field = "data"
		}
		b, _ := json.Marshal(map[string]any{"resourceType": "Binary", "id": id, "contentType": "application/pdf",
			field: base64.StdEncoding.EncodeToString(doc)})
		return b, "application/fhir+json"
	}
	return doc, "application/pdf"
}
