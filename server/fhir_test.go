package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
)

type searchBundle struct {
	ResourceType string
	Type         string
	Total        int
	Link         []struct{ Relation, URL string }
	Entry        []struct {
		FullURL  string
		Resource struct {
			ID      string
			Subject struct{ Display string }
			Content []struct {
				Attachment struct {
					URL, Title, Hash, ContentType string
					Size                          int64
				}
			}
		}
	}
}

// The search answers a searchset Bundle holding the grant's document, valid STU3
// that follows every rule of the XIS-Server scripts, the same in JSON and XML
// (by Accept and by _format), with no BSN anywhere; the read gives the same
// DocumentReference.
func TestFHIRSearchMedMijPatient(t *testing.T) {
	f := newFHIRFixture(t, 5*time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)

	w := f.get("/51/fhir/DocumentReference?status=current", tok)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/fhir+json") {
		t.Fatalf("%d %s %s", w.Code, w.Header(), w.Body)
	}
	jsonBody := w.Body.Bytes()
	validSTU3(t, jsonBody)
	walkRules(t, jsonBody)
	noBSN(t, jsonBody, w.Header())
	var b searchBundle
	if err := json.Unmarshal(jsonBody, &b); err != nil {
		t.Fatal(err)
	}
	if b.Type != "searchset" || b.Total != 1 || len(b.Entry) != 1 || b.Link[0].Relation != "self" ||
		b.Link[0].URL != f.base+"/DocumentReference?status=current" {
		t.Fatalf("bundle %+v", b)
	}
	e := b.Entry[0]
	a := e.Resource.Content[0].Attachment
	if e.FullURL != f.base+"/DocumentReference/"+job.ID || a.URL != "Binary/"+job.ID || a.Size != job.Size ||
		a.Hash != job.AttachmentHash() || a.ContentType != "application/pdf" || e.Resource.Subject.Display != "XXX_Rijn" && !strings.Contains(e.Resource.Subject.Display, "Rijn") {
		t.Fatalf("entry %+v", e)
	}
	for _, hdr := range [][]string{{"Accept", "application/fhir+xml"}, {"Accept", "application/xml"}} {
		x := f.get("/51/fhir/DocumentReference?status=current", tok, hdr...)
		if x.Code != 200 || !strings.HasPrefix(x.Header().Get("Content-Type"), "application/fhir+xml") {
			t.Fatalf("%v: %d %s", hdr, x.Code, x.Header())
		}
		sameContent(t, jsonBody, x.Body.Bytes(), "id", "meta")
		noBSN(t, x.Body.Bytes(), x.Header())
	}
	x := f.get("/51/fhir/DocumentReference?status=current&_format=xml", tok)
	var xb searchBundle
	if x.Code != 200 || !strings.Contains(x.Body.String(), `<link><relation value="self"/><url value="`+f.base+`/DocumentReference?status=current&amp;_format=xml"/></link>`) {
		t.Fatalf("%d %s", x.Code, x.Body)
	}
	_ = xb

	r := f.get("/51/fhir/DocumentReference/"+job.ID, tok)
	validSTU3(t, r.Body.Bytes())
	walkRules(t, r.Body.Bytes())
	var one, inBundle map[string]any
	_ = json.Unmarshal(r.Body.Bytes(), &one)
	var raw struct {
		Entry []struct{ Resource map[string]any }
	}
	_ = json.Unmarshal(jsonBody, &raw)
	inBundle = raw.Entry[0].Resource
	if r.Code != 200 || one["id"] != inBundle["id"] || len(one) != len(inBundle) {
		t.Fatalf("read %d %v", r.Code, one)
	}
	rx := f.get("/51/fhir/DocumentReference/"+job.ID+"?_format=xml", tok)
	sameContent(t, r.Body.Bytes(), rx.Body.Bytes())
}

// Search parameters: indexed filters, unknown parameters ignored and left out of
// the self link, malformed syntax 400 with an OperationOutcome (JSON or XML).
func TestFHIRSearchParameters(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	day := job.Created.UTC().Format("2006-01-02")
	next := job.Created.UTC().AddDate(0, 0, 1).Format("2006-01-02")
	tests := []struct {
		query string
		total int
		self  string
	}{
		{"status=current", 1, "status=current"},
		{"status=superseded", 0, "status=superseded"},
		{"status=current&indexed=ge" + day, 1, "status=current&indexed=ge" + day},
		{"status=current&indexed=ge" + next, 0, "status=current&indexed=ge" + next},
		{"indexed=le" + day + "&indexed=ge" + day, 1, "indexed=le" + day + "&indexed=ge" + day},
		{"indexed=lt" + day, 0, "indexed=lt" + day},
		{"status=current&indexed=ge2020-01-01T00:00:00%2B01:00", 1, "status=current&indexed=ge2020-01-01T00%3A00%3A00%2B01%3A00"},
		{"status=current&patient.identifier=x&_count=5", 1, "status=current"},
		// token syntax (search.html#token): system|code and |code
		{"status=http://hl7.org/fhir/document-reference-status|current", 1, "status=http%3A%2F%2Fhl7.org%2Ffhir%2Fdocument-reference-status%7Ccurrent"},
		{"status=%7Ccurrent", 1, "status=%7Ccurrent"},
		// repeated parameters are AND, a comma within one is OR (search.html#combining)
		{"status=current,superseded", 1, "status=current%2Csuperseded"},
		{"status=current&status=superseded", 0, "status=current&status=superseded"},
		{"", 1, ""},
	}
	for _, tt := range tests {
		w := f.get("/51/fhir/DocumentReference?"+tt.query, tok)
		var b searchBundle
		_ = json.Unmarshal(w.Body.Bytes(), &b)
		want := f.base + "/DocumentReference"
		if tt.self != "" {
			want += "?" + tt.self
		}
		if w.Code != 200 || b.Total != tt.total || len(b.Entry) != tt.total || len(b.Link) == 0 || b.Link[0].URL != want {
			t.Errorf("%s: %d total %d links %v, want %d %s", tt.query, w.Code, b.Total, b.Link, tt.total, want)
		}
	}
	for _, bad := range []string{
		"/51/fhir/DocumentReference/$", "/51/fhir/DocumentReference?indexed=ge2026-13-45",
		"/51/fhir/DocumentReference?indexed=yesterday", "/51/fhir/DocumentReference?status=bogus",
		"/51/fhir/DocumentReference?status=http://loinc.org|current",
	} {
		for _, format := range []string{"application/fhir+json", "application/fhir+xml"} {
			w := f.get(bad, tok, "Accept", format)
			if w.Code != 400 || !strings.HasPrefix(w.Header().Get("Content-Type"), format) || !strings.Contains(w.Body.String(), "OperationOutcome") {
				t.Errorf("%s %s: %d %s", bad, format, w.Code, w.Body)
			}
			if format == "application/fhir+json" {
				validSTU3(t, w.Body.Bytes())
			}
		}
	}
	if w := f.get("/51/fhir/DocumentReference?_format=pdf", tok); w.Code != 406 {
		t.Errorf("_format=pdf: %d", w.Code)
	}
	// `+` not percent-encoded, as many clients send it: form decoding makes it a space.
	for format, want := range map[string]string{"application/fhir+json": "application/fhir+json", "application/fhir+xml": "application/fhir+xml",
		"application/fhir%2Bxml": "application/fhir+xml"} {
		if w := f.get("/51/fhir/DocumentReference?status=current&_format="+format, tok); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), want) {
			t.Errorf("_format=%s: %d %s", format, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

// Binary in every representation: the PDF (no Accept, Accept application/pdf), STU3
// JSON with content, R4 JSON with data, FHIR XML; each with Content-Length, ETag and
// a Content-Digest that matches the body; the resources are valid STU3 and the XML
// holds the same.
func TestFHIRBinaryRepresentations(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	path := "/51/fhir/Binary/" + job.ID
	var pdf []byte
	for _, accept := range []string{"", "application/pdf", "*/*"} {
		w := f.get(path, tok, "Accept", accept)
		pdf = w.Body.Bytes()
		sum := sha256.Sum256(pdf)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) ||
			int64(len(pdf)) != job.Size || sum != job.SHA256 || w.Header().Get("Content-Length") != itoa(len(pdf)) ||
			w.Header().Get("Content-Digest") != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" ||
			w.Header().Get("ETag") == "" || w.Header().Get("Accept-Ranges") != "bytes" {
			t.Fatalf("accept %q: %d %v", accept, w.Code, w.Header())
		}
		noBSN(t, nil, w.Header())
	}
	checkDigest := func(w interface {
		Header() http.Header
	}, body []byte) {
		sum := sha256.Sum256(body)
		if w.Header().Get("Content-Digest") != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" || w.Header().Get("Content-Length") != itoa(len(body)) {
			t.Fatalf("digest or length: %v (%d bytes)", w.Header(), len(body))
		}
	}
	j := f.get(path, tok, "Accept", "application/fhir+json")
	var stu3 struct{ ResourceType, ID, ContentType, Content, Data string }
	if err := json.Unmarshal(j.Body.Bytes(), &stu3); err != nil || j.Code != 200 || stu3.ResourceType != "Binary" || stu3.ID != job.ID ||
		stu3.ContentType != "application/pdf" || stu3.Content != base64.StdEncoding.EncodeToString(pdf) || stu3.Data != "" {
		t.Fatalf("stu3 json: %d %v %.200s", j.Code, err, j.Body)
	}
	checkDigest(j, j.Body.Bytes())
	validSTU3(t, j.Body.Bytes())

	r4 := f.get(path, tok, "Accept", "application/fhir+json; fhirVersion=4.0")
	var r4b struct{ ResourceType, Content, Data string }
	if err := json.Unmarshal(r4.Body.Bytes(), &r4b); err != nil || r4b.Data != stu3.Content || r4b.Content != "" ||
		!strings.Contains(r4.Header().Get("Content-Type"), "fhirVersion=4.0") {
		t.Fatalf("r4: %v %v", err, r4.Header())
	}
	checkDigest(r4, r4.Body.Bytes())

	for _, x := range []*struct{ hdr []string }{{[]string{"Accept", "application/fhir+xml"}}, {[]string{"Accept", "text/xml"}}} {
		w := f.get(path, tok, x.hdr...)
		var xb struct {
			XMLName xml.Name
			ID      struct {
				Value string `xml:"value,attr"`
			} `xml:"id"`
			ContentType struct {
				Value string `xml:"value,attr"`
			} `xml:"contentType"`
			Content struct {
				Value string `xml:"value,attr"`
			} `xml:"content"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &xb); err != nil || xb.XMLName.Local != "Binary" || xb.XMLName.Space != "http://hl7.org/fhir" ||
			xb.ID.Value != job.ID || xb.Content.Value != stu3.Content {
			t.Fatalf("xml: %v %+v", err, xb.XMLName)
		}
		checkDigest(w, w.Body.Bytes())
		sameContent(t, j.Body.Bytes(), w.Body.Bytes())
	}
	// HEAD gives the headers without a body.
	req := f.get(path, tok)
	etag := req.Header().Get("ETag")
	if nm := f.get(path, tok, "If-None-Match", etag); nm.Code != 304 {
		t.Fatalf("If-None-Match: %d", nm.Code)
	}
}

// Every list and download is audited with who (the peer), whose dossier, which
// document (with its hashes), and the request and correlation ids.
func TestFHIRAudited(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	f.get("/51/fhir/DocumentReference?status=current", tok, "MedMij-Request-ID", "7b7e1c1e-1111-4a4a-9b9b-000000000001", "X-Correlation-ID", "7b7e1c1e-2222-4a4a-9b9b-000000000002")
	f.get("/51/fhir/Binary/"+job.ID, tok, "MedMij-Request-ID", "7b7e1c1e-1111-4a4a-9b9b-000000000003", "X-Correlation-ID", "7b7e1c1e-2222-4a4a-9b9b-000000000002")
	for action, reqID := range map[audit.Action]string{audit.ActDocumentListed: "7b7e1c1e-1111-4a4a-9b9b-000000000001", audit.ActDocumentFetched: "7b7e1c1e-1111-4a4a-9b9b-000000000003"} {
		var person, actorType, actor, object, rid, cid, hashes string
		err := f.db.Pool.QueryRow(context.Background(), `select person_id::text, actor_type, actor_id, object_id, request_id, correlation_id, coalesce(object_hashes::text, '')
			from audit_log where action = $1`, string(action)).Scan(&person, &actorType, &actor, &object, &rid, &cid, &hashes)
		if err != nil || person != f.user || actorType != "peer" || actor != "zuid.localhost" || object != job.ID || rid != reqID ||
			cid != "7b7e1c1e-2222-4a4a-9b9b-000000000002" || !strings.Contains(hashes, job.AttachmentHash()) {
			t.Fatalf("%s: %v %s %s %s %s %s %s %s", action, err, person, actorType, actor, object, rid, cid, hashes)
		}
	}
	var until time.Time
	if err := f.db.Pool.QueryRow(context.Background(), `select serve_until from export_job where id = $1`, job.ID).Scan(&until); err != nil || until.Before(time.Now()) {
		t.Fatalf("serve_until %v %v", until, err)
	}
	// Without an X-Correlation-ID of its own the request carries the transfer's
	// (the one its token was issued under), in the audit record and the response.
	if job.CorrelationID == "" {
		t.Fatal("the job has no correlation id")
	}
	w := f.get("/51/fhir/Binary/"+job.ID, tok, "MedMij-Request-ID", "7b7e1c1e-1111-4a4a-9b9b-000000000004", "X-Correlation-ID", "")
	var cid string
	sent := hget(w.Header(), "X-Correlation-ID") // set in MedMij's spelling, not canonicalised
	if err := f.db.Pool.QueryRow(context.Background(), `select correlation_id from audit_log where request_id = $1`,
		"7b7e1c1e-1111-4a4a-9b9b-000000000004").Scan(&cid); err != nil || cid != job.CorrelationID || sent != job.CorrelationID {
		t.Fatalf("no X-Correlation-ID: audit %q, response %q, want the transfer's %q (%v)", cid, sent, job.CorrelationID, err)
	}
}

// Unknown ids, other patients' documents and unsupported types are 404 with an
// OperationOutcome that says nothing about anyone else's documents; a document of
// the same patient outside the grant is 403.
func TestFHIRNotFoundAndForbidden(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	other := f.request(t, "8d0f0a0e-0000-4000-8000-00000000beef") // another patient's export
	mine := f.request(t, f.user)                                  // the same patient, another consent
	unknownText := ""
	for _, tt := range []struct {
		path   string
		status int
		code   string
	}{
		{"/51/fhir/Binary/example-pdfa-binary3", 404, "not-found"},
		{"/51/fhir/Binary/" + other.ID, 404, "not-found"},
		{"/51/fhir/Binary/0b9e5c7e-1d35-4b43-9d64-4c1b0f0e0a11", 404, "not-found"},
		{"/51/fhir/DocumentReference/" + other.ID, 404, "not-found"},
		{"/51/fhir/Binary/" + mine.ID, 403, "forbidden"},
		{"/51/fhir/DocumentManifest?status=current", 404, "not-supported"},
		{"/51/fhir/Patient/x", 404, "not-supported"},
	} {
		for _, format := range []string{"application/fhir+json", "application/fhir+xml"} {
			w := f.get(tt.path, tok, "Accept", format)
			if w.Code != tt.status || !strings.HasPrefix(w.Header().Get("Content-Type"), format) || !strings.Contains(w.Body.String(), tt.code) {
				t.Fatalf("%s %s: %d %s %s", tt.path, format, w.Code, w.Header(), w.Body)
			}
			if format == "application/fhir+json" {
				validSTU3(t, w.Body.Bytes())
				if tt.status == 404 && strings.HasPrefix(tt.path, "/51/fhir/Binary/") {
					text := strings.ReplaceAll(w.Body.String(), tt.path[len("/51/fhir/Binary/"):], "ID")
					if unknownText == "" {
						unknownText = text
					} else if text != unknownText {
						t.Fatalf("404s differ (a hint):\n%s\n%s", text, unknownText)
					}
				}
			}
		}
	}
	if w := f.get("/51/fhir/DocumentManifest", tok); !strings.Contains(w.Body.String(), "DocumentManifest is not supported") {
		t.Fatalf("manifest: %s", w.Body)
	}
	// Writes are refused with 405, Allow and an OperationOutcome.
	req := httptest.NewRequest(http.MethodDelete, "/51/fhir/Binary/"+job.ID, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Client-Cert", url.PathEscape(f.cert))
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, req)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" || !strings.Contains(w.Body.String(), "OperationOutcome") {
		t.Fatalf("DELETE: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// Refusals: no token, an unknown or expired or revoked token, a token presented
// with another client certificate, no client certificate at all: 401 with
// WWW-Authenticate and an OperationOutcome. A missing token or certificate is
// audited here as fhir_refused; a refused
// token is the checker's to audit (TestFHIRWithRealTokens counts the records of
// the real one), so the endpoint writes none for it.
func TestFHIRRefusalsWithTestChecker(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	expired := f.grant(job)
	e := f.access.tokens[expired]
	e.acc.ExpiresAt = time.Now().Add(-time.Second)
	f.access.put(expired, e)
	revoked := f.grant(job)
	if w := f.get("/51/fhir/Binary/"+job.ID, revoked); w.Code != 200 {
		t.Fatalf("before revocation: %d", w.Code)
	}
	f.access.revoke(revoked)
	otherCert, _ := f.ca.client(t, "evil.localhost")
	for _, tt := range []struct {
		name, token, cert, wantAuth string
	}{
		{"no token", "", f.cert, `Bearer realm="` + f.base + `"`},
		{"unknown token", "not-a-token", f.cert, `error="invalid_token"`},
		{"expired", expired, f.cert, `error="invalid_token"`},
		{"revoked", revoked, f.cert, `error="invalid_token"`},
		{"another certificate", tok, otherCert, `error="invalid_token"`},
		{"no client certificate", tok, "", `Bearer realm="` + f.base + `"`},
	} {
		for _, path := range []string{"/51/fhir/Binary/" + job.ID, "/51/fhir/DocumentReference?status=current", "/51/fhir/metadata"} {
			f2 := *f
			f2.cert = tt.cert
			w := f2.get(path, tt.token)
			if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), tt.wantAuth) || !strings.Contains(w.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Fatalf("%s %s: %d %v %s", tt.name, path, w.Code, w.Header(), w.Body)
			}
			validSTU3(t, w.Body.Bytes())
		}
	}
	var n, noCert int
	_ = f.db.Pool.QueryRow(context.Background(), `select count(*), count(*) filter (where reason = 'no_client_certificate')
		from audit_log where action = 'fhir_refused' and outcome = 'failure'`).Scan(&n, &noCert)
	if n != 6 || noCert != 3 || f.access.refused != 12 {
		t.Fatalf("%d refusals audited by the endpoint (%d no_client_certificate), %d refused by the checker; want 6 (3 no token, 3 no certificate) and 12",
			n, noCert, f.access.refused)
	}
}

// The CapabilityStatement says exactly what is supported, valid STU3 in JSON and
// the same in XML.
func TestFHIRCapabilityStatement(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	tok := f.grant(f.rendered(t))
	w := f.get("/51/fhir/metadata", tok)
	validSTU3(t, w.Body.Bytes())
	walkRules(t, w.Body.Bytes())
	var cs struct {
		FHIRVersion string
		Rest        []struct {
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
				SearchParam []struct{ Name string }
			}
		}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &cs)
	got := []string{}
	for _, r := range cs.Rest[0].Resource {
		for _, i := range r.Interaction {
			got = append(got, r.Type+":"+i.Code)
		}
		for _, p := range r.SearchParam {
			got = append(got, r.Type+"?"+p.Name)
		}
	}
	if cs.FHIRVersion != "3.0.2" || strings.Join(got, " ") != "DocumentReference:search-type DocumentReference:read DocumentReference?status DocumentReference?indexed Binary:read" {
		t.Fatalf("%s %v", cs.FHIRVersion, got)
	}
	x := f.get("/51/fhir/metadata?_format=xml", tok)
	sameContent(t, w.Body.Bytes(), x.Body.Bytes())
}

var _ = url.PathEscape
var _ = export.StatusReady
