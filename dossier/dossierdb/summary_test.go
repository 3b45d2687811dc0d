package dossierdb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

func rowOf(t *testing.T, sum dossier.Summary, id string) []string {
	t.Helper()
	for _, s := range sum.Sections {
		for _, it := range s.Items {
			if it.ID == id {
				return it.Cells
			}
		}
	}
	t.Fatalf("no item %s", id)
	return nil
}

// The readable rows of the MedMij patient: Dutch dates (times in Europe/Amsterdam:
// authoredOn 2022-11-28T10:00:00+02:00 is 09:00 CET), code displays, the zib's own
// values from code-specification extensions ("Active, Confirmed present" for the
// condition's statuses), values with units and decimal commas, resolved
// medication names.
func TestSummaryRowsMedMij(t *testing.T) {
	f := newFixture(t)
	in, err := dossier.ReadPath(medmijPatient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	sum, err := f.svc.Summary(context.Background(), f.user, allCategories())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   string
		want []string
	}{
		{"Condition/zib-Problem-medmij-bgz-test-patA-problem1", []string{"Alcoholische levercirrose (Diagnosis)", "Active, Confirmed present", "11-11-2012", "",
			"lichaamslocatie Gehele lever; Heeft vroeger alcohol misbruikt, nu geheelonthouder"}},
		{"Observation/boratoryTestResult-Observation-medmij-bgz-test-patA-labresult1-1", []string{"Hemoglobine [mol/volume] in bloed", "7,2 mmol/L", "7,4 - 9,9 mmol/L", "12-05-2019 08:50", "Low; Onder referentiewaarden; methode Dillution; materiaal Bloed"}},
		{"Observation/zib-BodyHeight-medmij-bgz-test-patA-bodyheight1", []string{"Lichaamslengte [lengte] in ^patiënt", "178 cm", "", "15-10-2022 14:10", "Zonder schoenen, met sokken"}},
		{"MedicationRequest/zib-MedicationAgreement-medmij-bgz-test-patA-medagr1", []string{"Medicatieafspraak", "Apixaban 2.5mg", "Vanaf 28 november, gedurende 14 dagen, 2 maal per dag 1T, oraal, toedieningsweg Oraal", "28-11-2022 09:00", "Tot 2 weken na plaatsing kunstknie"}},
		{"Immunization/zib-Vaccination-medmij-bgz-test-patA-vaccin1", []string{"Hepatitis B vaccin", "26-04-2022", "afgerond", "Rondreis door Afrika"}},
		{"Encounter/zib-Encounter-medmij-bgz-test-patA-encounter2", []string{"Inpatient", "29-11-2022", "afgerond",
			"Implantatie van gewrichtsprothese in knie; zorgverlener Olivier Ruben O.R. Olivier de Rijcke (Performer); zorgaanbieder Ziekenhuis het Hogeland"}},
		{"NutritionOrder/zib-NutritionAdvice-medmij-bgz-test-patA-nutrition1", []string{"Voedingsadvies", "Natriumarm dieet", ""}},
	}
	for _, tt := range tests {
		if got := rowOf(t, sum, tt.id); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tt.id, got, tt.want)
		}
	}
	if p := rowOf(t, sum, "Patient/medmij-bgz-test-patA"); !strings.Contains(p[2], "geboren 17-12-1985; Female; BSN afgeschermd") {
		t.Errorf("patient row %q", p)
	}
}

// An R4 Bundle (zib2020 shapes: CodeableConcept statuses, occurrenceDateTime,
// Attachment.data) is detected, validated and summarised.
func TestImportR4(t *testing.T) {
	f := newFixture(t)
	b := bundle(t, "collection",
		`{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"123456782"}],"name":[{"family":"de Vries","given":["Hélène"]}],"birthDate":"1970-03"}`,
		`{"resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"195967001","display":"Astma"}]},"subject":{"reference":"Patient/p1"},"onsetDateTime":"2001-05-04"}`,
		`{"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"text":"Griepvaccin"},"patient":{"reference":"Patient/p1"},"occurrenceDateTime":"2024-10-12T09:30:00+02:00"}`,
		`{"resourceType":"Observation","id":"o1","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"text":"Glucose"},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":5.40,"unit":"mmol/L"},"effectiveDateTime":"2024-01-02"}`,
		`{"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order","medicationCodeableConcept":{"text":"Salbutamol"},"subject":{"reference":"Patient/p1"},"dosageInstruction":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":1,"unit":"inhalatie"}}]}]}`,
		`{"resourceType":"DocumentReference","id":"d1","status":"current","subject":{"reference":"Patient/p1"},"date":"2024-02-03T10:00:00+01:00","content":[{"attachment":{"contentType":"text/plain","data":"SGFsbG8=","title":"Brief"}}]}`,
	)
	in, err := dossier.ReadInput(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
	if err != nil || res.Version != fhir.R4 || res.Total != 6 {
		t.Fatalf("%v %+v", err, res)
	}
	sum, err := f.svc.Summary(context.Background(), f.user, allCategories())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"Condition/c1":         "Astma|actief|04-05-2001||",
		"Immunization/i1":      "Griepvaccin|12-10-2024 09:30|afgerond|",
		"Observation/o1":       "Glucose|5,40 mmol/L||02-01-2024|",
		"MedicationRequest/m1": "Medicatieafspraak|Salbutamol|1 inhalatie, 2 keer per 1 dag||actief",
		"DocumentReference/d1": "Brief||03-02-2024 10:00|text/plain, 5 bytes",
	} {
		if got := strings.Join(rowOf(t, sum, id), "|"); got != want {
			t.Errorf("%s: got %q want %q", id, got, want)
		}
	}
	if sum.Patient.BSN != "*****6782" || sum.Patient.Name != "Hélène de Vries" || len(sum.Documents) != 1 || sum.Documents[0].Size != 5 {
		t.Fatalf("%+v %+v", sum.Patient, sum.Documents)
	}
	// The same Bundle forced to STU3 is rejected at the first R4-only element.
	_, err = f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{Version: fhir.STU3})
	if err == nil || !strings.Contains(err.Error(), "entry 1: Condition.clinicalStatus") {
		t.Fatalf("forced STU3: %v", err)
	}
}

// Detection samples the first resource of each type; an R4-only shape later in the
// Bundle still leads to R4 rather than to a misleading STU3 error.
func TestDetectionFallsBackToOtherVersion(t *testing.T) {
	f := newFixture(t)
	both := `{"resourceType":"Condition","id":"c0","code":{"text":"Astma"},"subject":{"reference":"Patient/p1"}}`
	r4 := `{"resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"text":"Astma"},"subject":{"reference":"Patient/p1"}}`
	in, _ := dossier.ReadInput(bundle(t, "collection", `{"resourceType":"Patient","id":"p1"}`, both, r4))
	res, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
	if err != nil || res.Version != fhir.R4 {
		t.Fatalf("%v %+v", err, res)
	}
}

// A resource type the FHIR version does not define is refused with nothing stored
// (issue 14): an R5-only type in STU3 data, and a type no FHIR version has.
func TestUnknownTypeRefused(t *testing.T) {
	f := newFixture(t)
	for _, typ := range []string{"InventoryItem", "Bogus"} {
		in, _ := dossier.ReadInput(bundle(t, "collection", patient,
			`{"resourceType":"`+typ+`","id":"x1","code":{"text":"Bloeddrukmeter"},"subject":{"reference":"Patient/p1"}}`))
		for _, v := range []fhir.Version{fhir.STU3, ""} {
			_, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{Version: v})
			if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), `entry 1: resourceType: "`+typ+`" is not a FHIR`) {
				t.Fatalf("%s (%q): %v", typ, v, err)
			}
			if f.rows(t) != 0 || f.audits(t) != 0 {
				t.Fatalf("%s: something was stored", typ)
			}
		}
	}
}
