package server

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// renderHeld starts rendering job id in the background with the render held at its
// start (the job is in rendering) and returns the function that lets it finish and
// waits for it.
func (f *fhirFixture) renderHeld(t *testing.T, id string) func() {
	t.Helper()
	gate := f.slow.hold()
	done := make(chan error, 1)
	go func() { done <- f.jobs.Render(context.Background(), id) }()
	for f.job(t, id).Status != "rendering" {
		time.Sleep(5 * time.Millisecond) // waiting for a state, not asserting a time
	}
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// While the document renders: Prefer: respond-async gets 202 + Retry-After +
// X-Progress, and 200 once it is ready; a plain request is held and gets 200 when
// the render finishes; a render slower than the hold limit gets 503 + Retry-After;
// a failed render gets an OperationOutcome that says so. The DocumentReference is
// listed meanwhile, without size and hash.
func TestFHIRBinaryWhileRendering(t *testing.T) {
	f := newFHIRFixture(t, time.Minute)
	f.importMedMij(t)
	job := f.request(t, f.user)
	tok := f.grant(job)
	path := "/51/fhir/Binary/" + job.ID
	finish := f.renderHeld(t, job.ID)
	// A slow pace so far (1 item of 1,000): it must not become a long Retry-After.
	if err := f.store.Progress(context.Background(), job.ID, 1, 1000); err != nil {
		t.Fatal(err)
	}

	w := f.get(path, tok, "Prefer", "respond-async")
	<-f.awaits
	if w.Code != 202 || w.Header().Get("Retry-After") == "" || !strings.HasPrefix(w.Header().Get("X-Progress"), "rendering: ") ||
		!strings.Contains(w.Body.String(), `"resourceType":"OperationOutcome"`) {
		t.Fatalf("async: %d %v %s", w.Code, w.Header(), w.Body)
	}
	validSTU3(t, w.Body.Bytes())
	// Held for a second already: ask again at once (the next request is held as
	// well, and ends when the render does), not after a sleep that an estimate
	// from the pace so far would make (here 30 s) and that may outlast the render.
	if ra := w.Header().Get("Retry-After"); ra != "0" {
		t.Fatalf("Retry-After %q; want 0", ra)
	}
	list := f.get("/51/fhir/DocumentReference?status=current", tok)
	validSTU3(t, list.Body.Bytes())
	walkRules(t, list.Body.Bytes())
	if s := list.Body.String(); !strings.Contains(s, `"url":"Binary/`+job.ID+`"`) || strings.Contains(s, `"hash"`) || strings.Contains(s, `"size"`) {
		t.Fatalf("listing while rendering: %s", s)
	}

	// A plain request: held until the render finishes, then 200 with the PDF.
	got := make(chan *httptest.ResponseRecorder, 1)
	go func() { got <- f.get(path, tok) }()
	<-f.awaits // the handler is holding the request now
	finish()
	held := <-got
	if held.Code != 200 || !strings.HasPrefix(held.Body.String(), "%PDF-") {
		t.Fatalf("held: %d %s", held.Code, held.Header())
	}
	if again := f.get(path, tok, "Prefer", "respond-async"); again.Code != 200 {
		t.Fatalf("async after ready: %d", again.Code)
	}
}

// The patient withdraws the consent (here: the token stops being valid) while a
// Binary read is held for the render: the request that came in with a valid
// token gets 401 invalid_token when the render ends, not the document, and no
// document_fetched record is written.
func TestFHIRBinaryConsentWithdrawnWhileHeld(t *testing.T) {
	f := newFHIRFixture(t, time.Minute)
	f.importMedMij(t)
	job := f.request(t, f.user)
	tok := f.grant(job)
	finish := f.renderHeld(t, job.ID)
	got := make(chan *httptest.ResponseRecorder, 1)
	go func() { got <- f.get("/51/fhir/Binary/"+job.ID, tok) }()
	<-f.awaits // held now, with a token that was valid when the request came in
	f.access.revoke(tok)
	finish()
	w := <-got
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) ||
		strings.HasPrefix(w.Body.String(), "%PDF-") || !strings.Contains(w.Body.String(), "OperationOutcome") {
		t.Fatalf("withdrawn while held: %d %v %.80s", w.Code, w.Header(), w.Body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where action = 'document_fetched' and object_id = $1`, job.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d document_fetched records, %v", n, err)
	}
}

// A peer with a valid token cannot pile held reads on one render: beyond
// export.DefaultMaxHolds a plain read is answered at once with 503 and
// Retry-After 1 (not 0, which would make the peer ask again at once), and the
// held ones still get the document when the render ends.
func TestFHIRBinaryBoundsHeldReads(t *testing.T) {
	f := newFHIRFixture(t, time.Minute)
	f.importMedMij(t)
	job := f.request(t, f.user)
	tok := f.grant(job)
	path := "/51/fhir/Binary/" + job.ID
	finish := f.renderHeld(t, job.ID)
	held := make(chan *httptest.ResponseRecorder, export.DefaultMaxHolds)
	for range export.DefaultMaxHolds {
		go func() { held <- f.get(path, tok) }()
		<-f.awaits
	}
	time.Sleep(200 * time.Millisecond) // the held reads claim their places after the signal
	extra := make(chan *httptest.ResponseRecorder, 1)
	go func() { extra <- f.get(path, tok) }()
	select {
	case w := <-extra:
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "OperationOutcome") {
			t.Fatalf("a read beyond the held ones: %d, Retry-After %q, %.120s", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a read beyond %d held ones of one render was held as well", export.DefaultMaxHolds)
	}
	finish()
	for range export.DefaultMaxHolds {
		if w := <-held; w.Code != 200 || !strings.HasPrefix(w.Body.String(), "%PDF-") {
			t.Fatalf("held read after the render: %d %v", w.Code, w.Header())
		}
	}
}

// HEAD on Binary, the DocumentReference and the search sends the headers (size,
// ETag, digests) and no body: it is audited as document_listed with method HEAD,
// never as document_fetched, so an auditor does not read a download that did
// not happen.
func TestFHIRHeadIsNotAFetch(t *testing.T) {
	f := newFHIRFixture(t, time.Minute)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	for _, path := range []string{"/51/fhir/Binary/" + job.ID, "/51/fhir/DocumentReference/" + job.ID, "/51/fhir/DocumentReference?status=current"} {
		w := f.send(http.MethodHead, path, tok)
		if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
			t.Fatalf("HEAD %s: %d, %d body bytes, %v", path, w.Code, w.Body.Len(), w.Header())
		}
	}
	var fetched, heads int
	if err := f.db.Pool.QueryRow(context.Background(), `select count(*) filter (where action = 'document_fetched'),
		count(*) filter (where action = 'document_listed' and details->>'method' = 'HEAD')
		from audit_log where object_id = $1`, job.ID).Scan(&fetched, &heads); err != nil {
		t.Fatal(err)
	}
	if fetched != 0 || heads != 3 {
		t.Fatalf("%d document_fetched, %d document_listed with method HEAD; want 0 and 3", fetched, heads)
	}
	if w := f.get("/51/fhir/Binary/"+job.ID, tok); w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "%PDF-") {
		t.Fatalf("GET after HEAD: %d", w.Code)
	}
}

// A render slower than PGO_HOLD_LIMIT: 503 + Retry-After and an OperationOutcome.
func TestFHIRBinaryHoldLimit(t *testing.T) {
	f := newFHIRFixture(t, 50*time.Millisecond)
	f.importMedMij(t)
	job := f.request(t, f.user)
	tok := f.grant(job)
	finish := f.renderHeld(t, job.ID)
	defer finish()
	for _, accept := range []string{"application/pdf", "application/fhir+xml"} {
		w := f.get("/51/fhir/Binary/"+job.ID, tok, "Accept", accept)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "OperationOutcome") || !strings.Contains(w.Body.String(), "transient") {
			t.Fatalf("%s: %d %v %s", accept, w.Code, w.Header(), w.Body)
		}
	}
}

// A failed render answers with an OperationOutcome that says what happened.
func TestFHIRBinaryFailedRender(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.request(t, f.user)
	tok := f.grant(job)
	ev := audit.Event{Action: audit.ActExportFailed, Outcome: audit.Failure, Reason: "invalid_dossier", PersonID: f.user,
		ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if ok, err := f.store.Fail(context.Background(), job.ID, "het dossier bevat een ongeldige datum", ev); err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, hdr := range [][]string{{"Prefer", "respond-async"}, {"Accept", "application/pdf"}} {
		w := f.get("/51/fhir/Binary/"+job.ID, tok, hdr...)
		if w.Code != 500 || !strings.Contains(w.Body.String(), "could not be rendered: het dossier bevat een ongeldige datum") {
			t.Fatalf("%v: %d %s", hdr, w.Code, w.Body)
		}
		validSTU3(t, w.Body.Bytes())
	}
}

// A job row whose size or SHA-256 is not the document's (what the
// DocumentReference and Content-Digest would announce) gets a 500 with an
// OperationOutcome before any header of a document, in every representation,
// and no document_fetched record: never a 200 whose body breaks off.
func TestFHIRBinaryRefusesADocumentOtherThanItsJob(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	doc := []byte("%PDF-1.4 a document of a few bytes")
	for _, change := range []string{"sha256 = sha256(sha256)", "size = size + 1"} {
		job := f.stored(t, doc)
		tok := f.grant(job)
		if _, err := f.db.Pool.Exec(context.Background(), `update export_job set `+change+` where id = $1`, job.ID); err != nil {
			t.Fatal(err)
		}
		for _, accept := range []string{"application/pdf", "application/fhir+json", "application/fhir+xml"} {
			w := f.get("/51/fhir/Binary/"+job.ID, tok, "Accept", accept)
			if w.Code != 500 || w.Header().Get("Content-Digest") != "" || strings.Contains(w.Body.String(), "a document of a few bytes") {
				t.Fatalf("%s, %s: %d %v %q", change, accept, w.Code, w.Header(), w.Body)
			}
			if accept == "application/fhir+xml" {
				if !strings.Contains(w.Body.String(), "<OperationOutcome") {
					t.Fatalf("%s, %s: %q", change, accept, w.Body)
				}
			} else {
				validSTU3(t, w.Body.Bytes())
			}
		}
		var n int
		if err := f.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where action = 'document_fetched' and object_id = $1`, job.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s: %d document_fetched records, %v", change, n, err)
		}
	}
}

// A document sealed before documents declared themselves (no declaration to
// compare with the job before the first byte) is hashed as it is served: when it
// has the job's size but not its SHA-256, the raw download breaks off short of
// its last bytes instead of ending as a complete 200, whole or as a range to the
// end; a range that ends earlier is served (the peer checks the joined whole).
func TestFHIRBinaryUndeclaredMismatchBreaksOff(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	doc := make([]byte, 200<<10) // several reads of the stream
	copy(doc, "%PDF-1.4 ")
	other := bytes.Clone(doc)
	other[len(other)-1] = 'x' // the same size, another SHA-256
	job := f.request(t, f.user)
	if _, err := f.store.Start(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	sealed := vaulttest.SealStream(t, f.vault, job.ID, other) // no declaration
	res := export.Result{Pages: 1, Size: int64(len(doc)), SHA256: sha256.Sum256(doc), SHA1: sha1.Sum(doc)}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem,
		ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if ok, err := f.store.Finish(context.Background(), job.ID, res, sealed, ev); err != nil || !ok {
		t.Fatal(ok, err)
	}
	tok := f.grant(f.job(t, job.ID))
	srv := httptest.NewServer(f.srv.Handler())
	defer srv.Close()
	get := func(rng string) ([]byte, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/51/fhir/Binary/"+job.ID, nil)
		req.Header.Set("X-Client-Cert", url.PathEscape(f.cert))
		req.Header.Set("Authorization", "Bearer "+tok)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	for _, rng := range []string{"", "bytes=1000-", "bytes=-10"} {
		got, err := get(rng)
		if err == nil {
			t.Fatalf("range %q: %d bytes read as complete from a document that is not the job's", rng, len(got))
		}
	}
	if got, err := get("bytes=0-999"); err != nil || !bytes.Equal(got, other[:1000]) {
		t.Fatalf("a range short of the end: %v, %d bytes", err, len(got))
	}
}

// A download cut in the middle resumes with Range (If-Range the ETag): 206 with
// Content-Range, and the joined bytes match the first response's Content-Digest and
// the hash in the DocumentReference. Ranges outside the document are 416.
func TestFHIRBinaryRangeResume(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	srv := httptest.NewServer(f.srv.Handler())
	defer srv.Close()
	get := func(hdr ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/51/fhir/Binary/"+job.ID, nil)
		req.Header.Set("X-Client-Cert", url.PathEscape(f.cert))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("MedMij-Request-ID", uuid.NewString())
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := get()
	half := job.Size / 2
	part1 := make([]byte, half)
	if _, err := io.ReadFull(first.Body, part1); err != nil {
		t.Fatal(err)
	}
	first.Body.Close() // the connection breaks here
	digest, etag := first.Header.Get("Content-Digest"), first.Header.Get("ETag")

	second := get("Range", "bytes="+strconv.FormatInt(half, 10)+"-", "If-Range", etag)
	part2, _ := io.ReadAll(second.Body)
	second.Body.Close()
	if second.StatusCode != 206 || second.Header.Get("Content-Range") != "bytes "+strconv.FormatInt(half, 10)+"-"+strconv.FormatInt(job.Size-1, 10)+"/"+strconv.FormatInt(job.Size, 10) {
		t.Fatalf("resume: %d %v", second.StatusCode, second.Header)
	}
	whole := append(part1, part2...)
	sum, s1 := sha256.Sum256(whole), sha1.Sum(whole)
	if digest != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" || second.Header.Get("Repr-Digest") != digest {
		t.Fatalf("joined bytes do not match Content-Digest %s", digest)
	}
	list := f.get("/51/fhir/DocumentReference?status=current", tok)
	var b struct {
		Entry []struct {
			Resource struct {
				Content []struct{ Attachment struct{ Hash string } }
			}
		}
	}
	_ = json.Unmarshal(list.Body.Bytes(), &b)
	if b.Entry[0].Resource.Content[0].Attachment.Hash != base64.StdEncoding.EncodeToString(s1[:]) {
		t.Fatal("joined bytes do not match the DocumentReference hash")
	}
	for _, tt := range []struct {
		rng, ifRange string
		status       int
		length       int64
	}{
		{"bytes=0-99", "", 206, 100},
		{"bytes=-10", "", 206, 10},
		{"bytes=0-99", `"stale"`, 200, job.Size}, // another version: the whole document
		{"bytes=0-9,20-29", "", 200, job.Size},   // several ranges: the whole document
		{"bytes=" + strconv.FormatInt(job.Size, 10) + "-", "", 416, -1},
	} {
		resp := get("Range", tt.rng, "If-Range", tt.ifRange)
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.length >= 0 && n != tt.length) {
			t.Errorf("%s %s: %d, %d bytes", tt.rng, tt.ifRange, resp.StatusCode, n)
		}
	}
}

// Over real mutual TLS the thumbprint of the certificate of the connection is what
// the token must be bound to: the token works with its own certificate, and the
// same token over a connection with another certificate of the same CA is 401.
func TestFHIRTokenBoundToTLSCertificate(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	ts := f.tlsServer(t)
	defer ts.Close()
	own := f.ca.leaf(t, "zuid.localhost", x509.ExtKeyUsageClientAuth)
	other := f.ca.leaf(t, "zuid.localhost", x509.ExtKeyUsageClientAuth) // same name, another key
	tok := f.grantTo(job, peerThumb(own))
	for _, tt := range []struct {
		cert tls.Certificate
		want int
	}{{own, 200}, {other, 401}} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/51/fhir/Binary/"+job.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := f.tlsClient(tt.cert).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)) {
			t.Fatalf("%d %v %.200s", resp.StatusCode, resp.Header, body)
		}
	}
}
