package fhir

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

var medmij = shared.Path("medmij")

func loadDir(t testing.TB, dir string) []Entry {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	var out []Entry
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Entry{Index: i, Source: filepath.Base(f), JSON: b})
	}
	return out
}

// Every MedMij file parses strictly as STU3 (including `_value` extensions) and is
// detected as STU3.
func TestMedMijFixturesValidate(t *testing.T) {
	entries := append(loadDir(t, medmij+"/bgz-patA"), loadDir(t, medmij+"/examples")...)
	if len(entries) != 57 {
		t.Fatalf("%d fixtures, want 57", len(entries))
	}
	v, err := Detect(entries)
	if err != nil || v != STU3 {
		t.Fatalf("Detect = %v, %v; want stu3", v, err)
	}
	res, err := Validate(STU3, entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 57 {
		t.Fatalf("%d resources", len(res))
	}
	for _, r := range res {
		if r.Type == "Patient" {
			if got := BSN(r.JSON); got != Masked {
				t.Errorf("BSN display = %q, want %q", got, Masked)
			}
		}
	}
}

func TestDetectR4(t *testing.T) {
	r4 := `{"resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"text":"Astma"},"subject":{"reference":"Patient/p1"}}`
	v, err := Detect([]Entry{{Index: 0, JSON: []byte(r4)}})
	if err != nil || v != R4 {
		t.Fatalf("Detect = %v, %v; want r4", v, err)
	}
	if _, err := Validate(STU3, []Entry{{Index: 0, JSON: []byte(r4)}}); err == nil {
		t.Fatal("R4 Condition accepted as STU3")
	}
}

func TestValidateRejects(t *testing.T) {
	const subj = `"subject":{"reference":"Patient/p1"}`
	tests := []struct {
		name, json, want string
	}{
		{"bad JSON", `{"resourceType":"Condition",`, "entry 4: invalid JSON at byte"},
		{"not an object", `[1,2]`, "entry 4: not a JSON object"},
		{"missing required", `{"resourceType":"Condition","id":"c1"}`, `entry 4: Condition: missing required field "subject"`},
		{"bad date", `{"resourceType":"Condition","id":"c1",` + subj + `,"onsetDateTime":"2012-13-45"}`, "entry 4: Condition.onsetDateTime: expected datetime"},
		{"wrong reference type", `{"resourceType":"Condition","id":"c1","subject":{"reference":"Device/d1"}}`, "entry 4: Condition.subject: invalid reference to a Device resource"},
		{"unknown element", `{"resourceType":"Condition","id":"c1",` + subj + `,"onsetDatetime":"2012"}`, `entry 4: Condition.onsetDatetime: unknown element "onsetDatetime" in FHIR STU3`},
		{"unknown nested element", `{"resourceType":"Patient","id":"p1","name":[{"family":"A"},{"famliy":"B"}]}`, `entry 4: Patient.name[1].famliy: unknown element "famliy" in FHIR STU3`},
		{"bad code", `{"resourceType":"Patient","id":"p1","gender":"weird"}`, "entry 4: Patient.gender: code type mismatch"},
		{"bad id", `{"resourceType":"Patient","id":"p 1"}`, "entry 4: Patient.id"},
		{"BSN elfproef", `{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + BSNSystem + `","value":"123456780"}]}`, "entry 4: Patient.identifier[0].value: the BSN fails the elfproef"},
		{"BSN length", `{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + BSNSystem + `","value":"12345678"}]}`, "entry 4: Patient.identifier[0].value: a BSN has exactly 9 digits"},
		{"BSN absent", `{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + BSNSystem + `"}]}`, "neither a value nor a data-absent-reason"},
		{"BSN in reference identifier", `{"resourceType":"Condition","id":"c1","subject":{"identifier":{"system":"` + BSNSystem + `","value":"111111111"}}}`, "Condition.subject.identifier.value: the BSN fails the elfproef"},
		{"dangling contained", `{"resourceType":"Condition","id":"c1",` + subj + `,"asserter":{"reference":"#nope"}}`, "Condition.asserter.reference: no contained resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate(STU3, []Entry{{Index: 4, JSON: []byte(tt.json)}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "123456780") || strings.Contains(err.Error(), "111111111") {
				t.Fatal("error message holds the BSN")
			}
		})
	}
}

// A resourceType that FHIR does not define is refused (issue 14: "Bogus" passed),
// in the given version and in detection; duplicates are found.
func TestValidateRefusesUnknownTypeAndFindsDuplicates(t *testing.T) {
	bogus := []Entry{{Index: 0, JSON: []byte(`{"resourceType":"Bogus","id":"f1","subject":{"reference":"Patient/p1"}}`)}}
	for _, v := range []Version{STU3, R4} {
		res, err := Validate(v, bogus)
		if err == nil || len(res) != 0 || !strings.Contains(err.Error(), `entry 0: resourceType: "Bogus" is not a FHIR `+strings.ToUpper(string(v))+` resource type`) {
			t.Fatalf("%s: unknown type: %v %+v", v, err, res)
		}
	}
	if _, err := Detect(bogus); err == nil || !strings.Contains(err.Error(), "not a FHIR") {
		t.Fatalf("detect: %v", err)
	}
	p := []byte(`{"resourceType":"Patient","id":"p1"}`)
	_, err := Validate(STU3, []Entry{{Index: 0, JSON: p}, {Index: 1, JSON: p}})
	if err == nil || !strings.Contains(err.Error(), "entry 1: Patient.id: same resource as entry 0") {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestCheckBSN(t *testing.T) {
	for _, tt := range []struct {
		bsn string
		ok  bool
	}{
		{"111222333", true}, {"123456782", true}, {"999999990", true}, {"999999999", false}, {"123456789", false},
		{"000000000", false}, {"12345678", false}, {"1234567890", false}, {"12345678a", false}, {"", false},
	} {
		if err := CheckBSN(tt.bsn); (err == nil) != tt.ok {
			t.Errorf("CheckBSN(%q) = %v, want ok=%v", tt.bsn, err, tt.ok)
		}
	}
}

func TestReadBundle(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"bad JSON", `{"resourceType":"Bundle"`, "invalid JSON"},
		{"not a bundle", `{"resourceType":"Patient"}`, "resourceType: expected a Bundle"},
		{"wrong type", `{"resourceType":"Bundle","type":"document"}`, `Bundle.type: type "document" is not imported`},
		{"entry without resource", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1"}]}`, "entry 0: Bundle.entry[0].resource: entry has no resource"},
		// elements of the wrong JSON type are named by their path, not by Go's types
		{"entry not an object", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient"}},5]}`, "entry 1: Bundle.entry[1]: not an object"},
		{"entry null", `{"resourceType":"Bundle","type":"collection","entry":[null]}`, "entry 0: Bundle.entry[0]: not an object"},
		{"fullUrl not a string", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":7,"resource":{}}]}`, "entry 0: Bundle.entry[0].fullUrl: not a string"},
		{"entry not an array", `{"resourceType":"Bundle","type":"collection","entry":{}}`, "Bundle.entry: not an array"},
		{"type not a string", `{"resourceType":"Bundle","type":["collection"]}`, "Bundle.type: not a string"},
		{"resourceType not a string", `{"resourceType":1}`, "resourceType: expected a Bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadBundle([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if msg := err.Error(); strings.Contains(msg, "json:") || strings.Contains(msg, "struct") || strings.Contains(msg, "Go ") {
				t.Fatalf("Go's error in the message: %s", msg)
			}
		})
	}
	typ, entries, err := ReadBundle([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient"}}]}`))
	if err != nil || typ != "searchset" || len(entries) != 1 || entries[0].FullURL != "urn:uuid:a" {
		t.Fatalf("%v %v %+v", typ, err, entries)
	}
}

func TestUnresolvedRefs(t *testing.T) {
	res := []Resource{
		{Entry: Entry{Index: 0, FullURL: "urn:uuid:p"}, Type: "Patient", ID: "p1"},
		{Entry: Entry{Index: 1}, Type: "Condition", ID: "c1", Refs: []Reference{
			{Path: "Condition.subject.reference", Value: "Patient/p1"},
			{Path: "Condition.asserter.reference", Value: "urn:uuid:p"},
			{Path: "Condition.context.reference", Value: "https://example.org/fhir/Encounter/e9/_history/2"},
			{Path: "Condition.evidence[0].detail[0].reference", Value: "Observation/o1"},
		}},
	}
	un, err := UnresolvedRefs(res)
	if err != nil || len(un) != 2 || un[0].Target != "Encounter/e9" || un[1].Path != "Condition.evidence[0].detail[0].reference" {
		t.Fatalf("%v %+v", err, un)
	}
	if msg := un[1].Error().Error(); msg != "entry 1: Condition.evidence[0].detail[0].reference: reference to a Observation that is neither in the Bundle nor stored" {
		t.Fatal(msg)
	}
	res[1].Refs = []Reference{{Path: "Condition.subject.reference", Value: "urn:uuid:missing"}}
	if _, err := UnresolvedRefs(res); err == nil || !strings.Contains(err.Error(), "Condition.subject.reference") {
		t.Fatalf("urn: %v", err)
	}
}

// Our structs read the MedMij examples and write them back unchanged (as JSON values),
// and the FHIR library accepts what we write.
func TestDocumentStructsRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		file string
		v    any
	}{
		{"_port-DocumentReference-XXX-Rijn.json", &DocumentReference{}},
		{"_port-Binary-XXX-Rijn.json", &Binary{}},
	} {
		raw, err := os.ReadFile(filepath.Join(medmij, "examples", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, tt.v); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(raw, &a)
		_ = json.Unmarshal(out, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s does not round-trip:\n%s", tt.file, out[:min(len(out), 400)])
		}
		if _, err := Validate(STU3, []Entry{{Index: 0, JSON: out}}); err != nil {
			t.Errorf("%s: FHIR library rejects our output: %v", tt.file, err)
		}
	}
	d := NewTransferDocumentReference("d1", "b1", "Patient/p1", "Dossier", "urn:uuid:3f9c1d6e-8a4b-4e2a-9c3d-2f1b7e8c9d12", "2026-01-07T12:00:00+02:00")
	out, _ := json.Marshal(d)
	if _, err := Validate(STU3, []Entry{{Index: 0, JSON: out}}); err != nil {
		t.Fatalf("FHIR library rejects our DocumentReference: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), `{"resourceType":"DocumentReference","id":"d1","meta":{"profile":["`+DocumentReferenceProfile) ||
		!strings.Contains(string(out), `"code":"371535009"`) || !strings.Contains(string(out), `"url":"Binary/b1"`) {
		t.Fatalf("unexpected: %s", out)
	}
	bin, _ := json.Marshal(Binary{ID: "b1", ContentType: "application/pdf", Content: []byte("%PDF-1.7")})
	if string(bin) != `{"resourceType":"Binary","id":"b1","contentType":"application/pdf","content":"JVBERi0xLjc="}` {
		t.Fatalf("binary: %s", bin)
	}
	if err := json.Unmarshal([]byte(`{"resourceType":"Patient"}`), &Binary{}); err == nil {
		t.Fatal("wrong resourceType accepted")
	}
}

// The one-patient check (package dossier) needs what a subject says of the
// person besides a literal reference: a logical reference's BSN, and the type
// and BSN of a contained resource a local reference points at.
func TestInspectPatientIdentity(t *testing.T) {
	entries := []Entry{
		{Index: 0, JSON: []byte(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"` + BSNSystem + `","value":"999911120"}]}`)},
		{Index: 1, JSON: []byte(`{"resourceType":"Condition","id":"c1","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},
			"contained":[{"resourceType":"Patient","id":"pat","identifier":[{"system":"` + BSNSystem + `","value":"999990019"}]}],"subject":{"reference":"#pat"}}`)},
		{Index: 2, JSON: []byte(`{"resourceType":"Condition","id":"c2","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},
			"subject":{"identifier":{"system":"` + BSNSystem + `","value":"999990019"}}}`)},
	}
	res, err := Validate(STU3, entries)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].BSN != "999911120" {
		t.Errorf("Patient BSN %q", res[0].BSN)
	}
	if r := res[1].Refs; len(r) != 1 || r[0].Path != "Condition.subject.reference" || r[0].Contained != "Patient" || r[0].BSN != "999990019" {
		t.Errorf("contained: %+v", r)
	}
	if r := res[2].Refs; len(r) != 1 || r[0].Path != "Condition.subject.identifier" || r[0].Value != "" || r[0].BSN != "999990019" {
		t.Errorf("logical: %+v", r)
	}
	if un, err := UnresolvedRefs(res); err != nil || len(un) != 0 {
		t.Errorf("a logical reference is not resolved: %v %+v", err, un)
	}
}
