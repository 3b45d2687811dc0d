package dossierdb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/google/uuid"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// The MedMij BgZ test patient (loose STU3 files) imports without loss: one row per
// file, counts per category as the files say, one audit record.
func TestImportMedMijPatient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, err := dossier.ReadPath(medmijPatient)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(medmijPatient, "*.json"))
	res, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != fhir.STU3 || res.Total != len(files) || f.rows(t) != len(files) {
		t.Fatalf("version %s, total %d, rows %d, files %d", res.Version, res.Total, f.rows(t), len(files))
	}
	// Tallied from the files: Patient + 2 Coverage; 5 Condition; 1 AllergyIntolerance;
	// 2 MedicationDispense + 2 MedicationRequest + 2 MedicationStatement + 2 Medication;
	// 4 lab Observations + 2 Specimens + 3 vital signs; 2 Immunization + 1
	// ImmunizationRecommendation; 3 Encounter + 1 Appointment; the rest (practitioners,
	// organisations, location, advance directives, alert, devices, nutrition,
	// lifestyle observations) is "other".
	want := map[dossier.Category]int{
		dossier.CatPatient: 3, dossier.CatProblems: 5, dossier.CatAllergies: 1, dossier.CatMedication: 8,
		dossier.CatResults: 9, dossier.CatImmunization: 3, dossier.CatEncounters: 4, dossier.CatOther: 22,
	}
	got, err := f.svc.Counts(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if !equalCounts(got, want) || !equalCounts(res.Counts, want) {
		t.Fatalf("counts %v (result %v), want %v", got, res.Counts, want)
	}
	// The package refers to a Procedure and a RelatedPerson it does not ship; loose
	// files are a partial export, so these are warnings, not errors.
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0]+res.Warnings[1], "Encounter.diagnosis[0].condition.reference: reference to a Procedure") {
		t.Fatalf("warnings: %q", res.Warnings)
	}
	if n := f.audits(t); n != 1 {
		t.Fatalf("%d audit records", n)
	}
	sum, err := f.svc.Summary(ctx, f.user, allCategories())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Patient.BSN != fhir.Masked || sum.Patient.BirthDate != "1985-12-17" || !strings.Contains(sum.Patient.Name, "XXX_Rijn") || sum.Patient.Gender != "Female" ||
		sum.Patient.Aliases != "Anouk A. Anouk van XXX_Rijn de XXX_Vries" {
		// the gender as the zib states it (code-specification "Female"), not a translation of the FHIR code
		t.Fatalf("patient %+v", sum.Patient)
	}
	items := 0
	for _, s := range sum.Sections {
		items += len(s.Items)
	}
	if items != len(files) {
		t.Fatalf("summary has %d items, want %d", items, len(files))
	}
}

// Packed into one Bundle, the same files are rejected: inside a Bundle every reference
// must resolve, and nothing is stored.
func TestImportMedMijAsBundleRejectsDanglingReference(t *testing.T) {
	f := newFixture(t)
	files, _ := filepath.Glob(filepath.Join(medmijPatient, "*.json"))
	var res []string
	for _, file := range files {
		b, _ := os.ReadFile(file)
		res = append(res, string(b))
	}
	in, err := dossier.ReadInput(bundle(t, "transaction", res...))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
	idx := indexOf(files, "zib-AdvanceDirective-medmij-bgz-test-patA-advdir1.json")
	want := "entry " + itoa(idx) + ": Consent.consentingParty[0].reference: reference to a RelatedPerson that is neither in the Bundle nor stored"
	if pgo.ErrorCode(err) != pgo.EINVALID || pgo.ErrorMessage(err) != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if f.rows(t) != 0 || f.audits(t) != 0 {
		t.Fatal("something was stored")
	}
}

const (
	patient  = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"111222333"}],"name":[{"family":"Çelik","given":["Zoë"]}]}`
	problem  = `{"resourceType":"Condition","id":"c1","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},"subject":{"reference":"Patient/p1"}}`
	vaccin   = `{"resourceType":"Immunization","id":"i1","status":"completed","notGiven":false,"primarySource":true,"vaccineCode":{"text":"Griep"},"patient":{"reference":"Patient/p1"},"date":"2024-10-12"}`
	badBSN   = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"111222334"}]}`
	noSubj   = `{"resourceType":"Condition","id":"c2","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"}}`
	wrongRef = `{"resourceType":"Condition","id":"c3","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},"subject":{"reference":"Patient/p9"}}`
	patient2 = `{"resourceType":"Patient","id":"p2","name":[{"family":"Jansen"}]}`
	otherRef = `{"resourceType":"Immunization","id":"i2","status":"completed","notGiven":false,"primarySource":true,"vaccineCode":{"text":"Griep"},"patient":{"reference":"http://elders.example/fhir/Patient/p2"},"date":"2024-10-12"}`
	bogus    = `{"resourceType":"Bogus","id":"b1","text":"Bij pijn"}`
)

// Invalid Bundles are rejected with entry index, FHIR path and reason, and leave no
// rows and no audit record behind.
func TestImportRejectsInvalidBundles(t *testing.T) {
	tests := []struct {
		name, want string
		input      []byte
	}{
		{"bad JSON", "invalid JSON at byte 44: unexpected end of input", []byte(`{"resourceType":"Bundle","type":"collection"`)},
		{"unknown element", `entry 1: Condition.kode: unknown element "kode" in FHIR STU3`, []byte(strings.Replace(string(bundle(t, "collection", patient, problem)), `"code"`, `"kode"`, 1))},
		{"missing required element", `entry 2: Condition: missing required field "subject"`, bundle(t, "collection", patient, problem, noSubj)},
		{"wrong BSN", "entry 0: Patient.identifier[0].value: the BSN fails the elfproef (11-test)", bundle(t, "transaction", badBSN, problem)},
		{"wrong reference", "entry 0: Condition.subject.reference: reference to a Patient that is neither in the Bundle nor stored", bundle(t, "searchset", problem, vaccin)},
		// issue 14: one patient per dossier, FHIR types only
		{"another patient's subject", "entry 2: Condition.subject: refers to another patient than the dossier's; a dossier holds one person's data", bundle(t, "searchset", patient, problem, wrongRef)},
		{"another patient's patient", "entry 2: Immunization.patient: refers to another patient than the dossier's; a dossier holds one person's data", bundle(t, "collection", patient, vaccin, otherRef)},
		{"second patient", "entry 2: Patient: a second patient (the first is entry 0); a dossier holds one person's data", bundle(t, "collection", patient, problem, patient2)},
		{"not a FHIR type", `entry 1: resourceType: "Bogus" is not a FHIR STU3 resource type`, bundle(t, "collection", patient, bogus)},
		{"wrong bundle type", `Bundle.type: type "history" is not imported (use transaction, collection or searchset)`, bundle(t, "history", patient)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			in, err := dossier.ReadInput(tt.input)
			if err == nil {
				_, err = f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{Version: fhir.STU3})
			}
			if pgo.ErrorCode(err) != pgo.EINVALID || !strings.HasSuffix(pgo.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %q, want suffix %q", pgo.ErrorMessage(err), tt.want)
			}
			if strings.Contains(pgo.ErrorMessage(err), "111222334") {
				t.Fatal("the BSN is in the message")
			}
			if f.rows(t) != 0 || f.audits(t) != 0 {
				t.Fatal("something was stored")
			}
		})
	}
}

// An import for a user that does not exist is refused (ENOTFOUND, with its
// translation key) and stores nothing; not a UUID is invalid.
func TestImportRefusesUnknownUser(t *testing.T) {
	f := newFixture(t)
	in, err := dossier.ReadPath(medmijPatient)
	if err != nil {
		t.Fatal(err)
	}
	nobody := uuid.NewString()
	_, err = f.svc.Import(context.Background(), nobody, in, dossier.ImportOptions{})
	if pgo.ErrorCode(err) != pgo.ENOTFOUND || pgo.ErrorReason(err) != "dossier.reason.unknown_user" {
		t.Fatalf("err = %v", err)
	}
	if n := f.count(t, `select count(*) from dossier_resource`); n != 0 || f.count(t, `select count(*) from audit_log where action = 'dossier_imported' and outcome = 'success'`) != 0 {
		t.Fatalf("%d rows stored for nobody", n)
	}
	if n := f.count(t, `select count(*) from audit_log where action = 'dossier_imported' and outcome = 'failure' and reason = 'unknown_user' and person_id = $1`, nobody); n != 1 {
		t.Fatalf("%d refusal records for nobody", n)
	}
	if _, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatalf("the existing user: %v", err)
	}
}

// A dossier holds one patient: after patient p1 is stored, an import of another
// Patient (or of data about one) is refused and stores nothing; p1 again is fine.
func TestImportRefusesAnotherStoredPatient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	imp := func(resources ...string) error {
		in, err := dossier.ReadInput(bundle(t, "collection", resources...))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Import(ctx, f.user, in, dossier.ImportOptions{})
		return err
	}
	if err := imp(patient, problem); err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]string{{patient2}, {otherRef}} {
		err := imp(in...)
		if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), "one person's data") {
			t.Fatalf("err = %v", err)
		}
		if f.rows(t) != 2 || f.audits(t) != 1 {
			t.Fatalf("rows %d audits %d after a refused import", f.rows(t), f.audits(t))
		}
	}
	if err := imp(patient, vaccin); err != nil {
		t.Fatalf("the same patient again: %v", err)
	}
}

// A reference may point at a resource stored by an earlier import; re-importing a
// resource replaces it instead of duplicating it.
func TestImportResolvesStoredAndReplaces(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, b := range [][]byte{bundle(t, "collection", patient), bundle(t, "collection", problem, vaccin), bundle(t, "collection", problem)} {
		in, err := dossier.ReadInput(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.rows(t) != 3 || f.audits(t) != 3 {
		t.Fatalf("rows %d audits %d", f.rows(t), f.audits(t))
	}
	// Another user's dossier does not resolve references.
	other := newFixture(t)
	other.db, other.svc = f.db, f.svc
	other.user = "00000000-0000-4000-8000-000000000001"
	addAccount(t, f.db, other.user) // an existing account: the refusal is the reference's
	in, _ := dossier.ReadInput(bundle(t, "collection", problem))
	if _, err := other.svc.Import(ctx, other.user, in, dossier.ImportOptions{}); pgo.ErrorCode(err) != pgo.EINVALID {
		t.Fatalf("cross-user reference: %v", err)
	}
	if c, err := other.svc.Counts(ctx, other.user); err != nil || len(c) != 0 {
		t.Fatalf("other user sees %v %v", c, err)
	}
	if sum, err := other.svc.Summary(ctx, other.user, allCategories()); err != nil || sum.Patient.Name != "" || len(sum.Sections[1].Items) != 0 {
		t.Fatalf("other user's summary: %v %+v", err, sum)
	}
	if _, err := f.svc.Import(ctx, "not-a-uuid", in, dossier.ImportOptions{}); pgo.ErrorCode(err) != pgo.EINVALID {
		t.Fatalf("bad user id: %v", err)
	}
}

// Resources without id in a transaction Bundle get the uuid of their urn:uuid fullUrl,
// and references by fullUrl resolve.
func TestImportTransactionWithFullURLs(t *testing.T) {
	f := newFixture(t)
	b := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:0b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f","resource":{"resourceType":"Patient","name":[{"family":"Bakker"}]},"request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:1b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f","resource":{"resourceType":"Condition","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Jicht"},"subject":{"reference":"urn:uuid:0b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"}},"request":{"method":"POST","url":"Condition"}}]}`)
	in, err := dossier.ReadInput(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sum, err := f.svc.Summary(context.Background(), f.user, []dossier.Category{dossier.CatProblems})
	if err != nil || len(sum.Sections) != 1 || sum.Sections[0].Items[0].ID != "Condition/1b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f" {
		t.Fatalf("%v %+v", err, sum)
	}
}

// The raw rows hold neither the name nor the BSN nor any recognisable resource text.
func TestNoPlaintextAtRest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data, err := dossier.Generate(dossier.SizeStandard, 7)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := dossier.ReadInput(data)
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sum, err := f.svc.Summary(ctx, f.user, []dossier.Category{dossier.CatPatient})
	if err != nil {
		t.Fatal(err)
	}
	var patient []byte
	for _, e := range in.Entries {
		if strings.Contains(string(e.JSON), `"resourceType":"Patient"`) {
			patient = e.JSON
		}
	}
	bsn := fhir.BSN(patient)
	if fhir.CheckBSN(bsn) != nil || sum.Patient.BSN != fhir.MaskBSN(bsn) || strings.Contains(sum.Patient.BSN, bsn[:5]) {
		t.Fatalf("generated BSN fails the elfproef or the summary shows it unmasked (%q)", sum.Patient.BSN)
	}
	family := sum.Patient.Name[strings.LastIndexByte(sum.Patient.Name, ' ')+1:]
	secrets := [][]byte{[]byte(bsn), []byte(family), []byte("resourceType"), []byte("Ontslagbrief")}
	rows, err := f.db.Pool.Query(ctx, `select t::text, sealed from dossier_resource t where user_id = $1`, f.user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var text string
		var sealed []byte
		if err := rows.Scan(&text, &sealed); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(sealed, s) || strings.Contains(text, string(s)) {
				t.Fatalf("row holds %q in the clear", s)
			}
		}
		n++
	}
	if n < 250 {
		t.Fatalf("only %d rows", n)
	}
}

func allCategories() []dossier.Category {
	var out []dossier.Category
	for _, c := range dossier.Categories {
		out = append(out, c.Key)
	}
	return out
}

func equalCounts(a, b map[dossier.Category]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func indexOf(files []string, base string) int {
	for i, f := range files {
		if filepath.Base(f) == base {
			return i
		}
	}
	return -1
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
