package server

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestXISServerScripts runs the requests and assertions of Nictiz's PDF/A 3.0
// XIS-Server TestScripts (output/STU3/PDFA-3-0/MedMij/Cert/XIS-Server in the Nictiz
// test-script repository, read as reference: scenarios 1.1/1.4 search and Binary
// read, 1.2 an indexed window without documents, 1.5 an unknown Binary, 2.2/2.3
// DocumentManifest, 2.5 the PDF by plain HTTP GET), each in the JSON and the XML
// variant, against the real endpoint with the MedMij test patient. Where a script
// expects its own fixture (two documents of "XXX_Baltus", LOINC types), the count is
// ours: one grant, one document. DocumentManifest is deliberately not offered (the
// koppelvlak exchanges references only), so 2.2/2.3 expect 404 + OperationOutcome.
func TestXISServerScripts(t *testing.T) {
	f := newFHIRFixture(t, 5*time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	for _, variant := range []struct{ name, accept string }{{"json", "application/fhir+json"}, {"xml", "application/fhir+xml"}} {
		t.Run(variant.name, func(t *testing.T) {
			run := func(path string) (*httptest.ResponseRecorder, map[string][]any) {
				w := f.get(path, tok, "Accept", variant.accept)
				if !strings.HasPrefix(w.Header().Get("Content-Type"), variant.accept) {
					t.Fatalf("%s: content type %s", path, w.Header().Get("Content-Type"))
				}
				if variant.name == "json" {
					validSTU3(t, w.Body.Bytes()) // validateProfileId: base FHIR STU3
					return w, canonJSON(t, w.Body.Bytes()).(map[string][]any)
				}
				return w, canonXML(t, w.Body.Bytes()).(map[string][]any)
			}

			// Scenario 1.1 / 1.4: serve the current DocumentReferences.
			query := "status=current"
			w, b := run("/51/fhir/DocumentReference?" + query)
			searchAsserts(t, w.Code, b, query, 1)
			// 1.4: the Binary URL is the self link's base + attachment.url.
			self := str(first(b, "link", "url"))
			dr := first(b, "entry", "resource").(map[string][]any)
			binURL := regexp.MustCompile(`DocumentReference[/?].*$`).ReplaceAllString(self, "") + str(first(dr, "content", "attachment", "url"))
			u, _ := url.Parse(binURL)
			bw, bin := run(u.Path)
			if bw.Code != 200 || str(first(bin, "resourceType")) != "Binary" || str(first(bin, "contentType")) != "application/pdf" {
				t.Fatalf("1.4 Binary: %d %v", bw.Code, bin["resourceType"])
			}

			// Scenario 1.2: an indexed window a year or two ago holds no documents.
			now := time.Now()
			query = "indexed=ge" + now.AddDate(0, 0, -730).Format("2006-01-02") + "&indexed=le" + now.AddDate(0, 0, -365).Format("2006-01-02") + "&status=current"
			w, b = run("/51/fhir/DocumentReference?" + query)
			searchAsserts(t, w.Code, b, query, 0)

			// Scenario 1.5: an unknown Binary is 404 (or 410) with an OperationOutcome.
			w, oo := run("/51/fhir/Binary/example-pdfa-binary3")
			if (w.Code != 404 && w.Code != 410) || str(first(oo, "resourceType")) != "OperationOutcome" {
				t.Fatalf("1.5: %d %v", w.Code, oo)
			}

			// Scenarios 2.2 / 2.3: DocumentManifest is not offered.
			w, oo = run("/51/fhir/DocumentManifest?status=current")
			if w.Code != 404 || str(first(oo, "resourceType")) != "OperationOutcome" {
				t.Fatalf("2.2: %d %v", w.Code, oo)
			}

			// Scenario 2.5: the PDF by plain HTTP GET.
			pw := f.get(u.Path, tok, "Accept", "application/pdf")
			if pw.Code != 200 || pw.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pw.Body.String(), "%PDF-") {
				t.Fatalf("2.5: %d %s", pw.Code, pw.Header())
			}
		})
	}
}

// searchAsserts are the assertions every search scenario makes.
func searchAsserts(t *testing.T, status int, b map[string][]any, query string, want int) {
	t.Helper()
	fail := func(format string, a ...any) { t.Helper(); t.Errorf("%s: %s", query, fmt.Sprintf(format, a...)) }
	if status != 200 && status != 201 {
		t.Fatalf("%s: status %d", query, status)
	}
	if str(first(b, "resourceType")) != "Bundle" || str(first(b, "type")) != "searchset" {
		fail("not a searchset Bundle")
	}
	matches := 0
	for _, e := range b["entry"] {
		em := e.(map[string][]any)
		res := em["resource"][0].(map[string][]any)
		full, id := str(first(em, "fullUrl")), str(first(res, "id"))
		if id == "" || !strings.HasSuffix(full, id) || !(strings.HasPrefix(full, "https://") || strings.HasPrefix(full, "http://")) {
			fail("fullUrl %q / id %q", full, id)
		}
		if typ := str(first(res, "resourceType")); typ != "OperationOutcome" && typ != "Binary" && len(first(res, "meta", "profile").(string)) == 0 {
			fail("%s without meta.profile", typ)
		}
		if m := str(first(em, "search", "mode")); m == "" || m == "match" {
			matches++
		}
	}
	walkCanon(b, "", fail)
	if total, err := strconv.Atoi(str(first(b, "total"))); err == nil && total > matches {
		fail("total %d > %d entries", total, matches)
	}
	self := str(first(b, "link", "url"))
	if self == "" || strings.Contains(self, "NamingSystem/bsn") {
		fail("self link %q", self)
	}
	for _, p := range strings.Split(query, "&") { // assert-response-queryParamsInSelfLink
		k, v, _ := strings.Cut(p, "=")
		if !strings.Contains(self, url.QueryEscape(k)+"="+url.QueryEscape(v)) {
			fail("parameter %s not in the self link %s", p, self)
		}
	}
	if n := len(b["entry"]); n != want {
		fail("%d DocumentReferences, want %d", n, want)
	}
}

// walkCanon checks Codings, CodeableConcepts, References, Identifiers and the BSN
// rule on a canonical (JSON or XML) resource, as the scripts' FHIRPath does.
func walkCanon(v any, name string, fail func(string, ...any)) {
	m, ok := v.(map[string][]any)
	if !ok {
		if s, _ := v.(string); strings.Contains(s, "NamingSystem/bsn") {
			fail("BSN naming system in %s", name)
		}
		return
	}
	switch {
	case name == "coding" && (m["system"] == nil || m["code"] == nil):
		fail("Coding without system or code")
	case codeableConcepts[name] && m["text"] == nil && (m["coding"] == nil || first(m, "coding", "display") == ""):
		fail("CodeableConcept %s without display or text", name)
	case references[name] && m["display"] == nil:
		fail("Reference %s without display", name)
	case identifiers[name] && (m["system"] == nil || m["value"] == nil):
		fail("Identifier %s without system or value", name)
	case name == "coding" && strings.HasPrefix(str(first(m, "system")), "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.2"):
		fail("zib value set OID as a code system")
	}
	for k, vs := range m {
		for _, e := range vs {
			walkCanon(e, k, fail)
		}
	}
}

// first follows path through a canonical resource, taking the first value each step.
func first(m map[string][]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string][]any)
		if !ok || len(mm[p]) == 0 {
			return ""
		}
		v = mm[p][0]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }
