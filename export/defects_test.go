package export

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

// defectBundle is a small STU3 collection with the shapes issue 14 names: a
// dateTime in UTC, a full BSN, an allergy whose zib value (code-specification
// "Matig") differs from the FHIR code (high), a device-use statement whose device
// reference has no display, and nothing in most categories.
func defectBundle(t *testing.T) dossier.Input {
	t.Helper()
	const codeSpec = "http://nictiz.nl/fhir/StructureDefinition/code-specification"
	resources := []string{
		`{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":"123456782"}],
		  "name":[{"family":"Bakker","given":["Sanne"]}],"birthDate":"1950-06-01"}`,
		`{"resourceType":"AllergyIntolerance","id":"a1","verificationStatus":"confirmed","criticality":"high",
		  "_criticality":{"extension":[{"url":"` + codeSpec + `","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"6736007","display":"Matig"}]}}]},
		  "code":{"coding":[{"system":"http://snomed.info/sct","code":"91936005","display":"Penicilline"}]},
		  "patient":{"reference":"Patient/p1"},"assertedDate":"2022-05-14T23:00:00+00:00"}`,
		`{"resourceType":"Device","id":"d1","type":{"coding":[{"system":"http://snomed.info/sct","code":"705417005","display":"Rollator"}]}}`,
		`{"resourceType":"DeviceUseStatement","id":"u1","status":"active","subject":{"reference":"Patient/p1","display":"Sanne Bakker"},
		  "device":{"reference":"Device/d1"},"whenUsed":{"start":"2021-03-01"}}`,
	}
	entries := make([]map[string]any, len(resources))
	for i, r := range resources {
		entries[i] = map[string]any{"resource": json.RawMessage(r)}
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(b)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestDocumentDefects renders the defect bundle and reads the PDF with pdftotext:
// each defect named in issue 14 is gone.
func TestDocumentDefects(t *testing.T) {
	sum, err := dossier.Preview(defectBundle(t), allCategories())
	if err != nil {
		t.Fatal(err)
	}
	pdf, res := render(t, Input{Summary: sum, Source: "PGO Noord", GeneratedAt: genTime})
	text := pdfText(t, writeTemp(t, "defects.pdf", pdf))
	flat := squash(text)
	has := func(s string) bool { return strings.Contains(flat, squash(s)) }

	// Times in Europe/Amsterdam: 2022-05-14T23:00:00+00:00 is 15 May, 01:00.
	if !has("15-05-2022 01:00") || has("14-05-2022 23:00") {
		t.Error("the allergy's date is not shown in Amsterdam time")
	}
	// The BSN never in full (FR042), masked on the cover and in the patient row.
	if strings.Contains(text, "123456782") || !has("*****6782") {
		t.Error("the BSN is not masked")
	}
	// The allergy shows the zib's value ("Matig"), not a translation of "high".
	if !has("Matig") || has("hoog") {
		t.Error("the allergy's criticality is not the zib's value")
	}
	// The device-use statement names its Device (resolved in the dossier).
	if !has("Medisch hulpmiddel Rollator") {
		t.Error("the device-use statement does not name its device")
	}
	// Empty categories are a line on the cover page, not a page each: cover plus
	// one page of items at most.
	if !has("Vaccinaties geen gegevens in deze categorie") || has("Vaccinaties (0 items)") || res.Pages > 2 {
		t.Errorf("empty categories: %d pages", res.Pages)
	}
	// Every page says whose dossier it is and where it came from.
	for i, page := range strings.Split(strings.TrimSuffix(text, "\f"), "\f") {
		if !strings.Contains(page, "Dossier van Sanne Bakker · geboren 01-06-1950 · bron PGO Noord") {
			t.Errorf("page %d lacks whose dossier it is and its source", i+1)
		}
	}
	if res.Proof.Missing != 0 || res.Proof.Items != countItems(sum) {
		t.Errorf("proof %+v", res.Proof)
	}
}

// An empty selected category adds no page: 12 empty categories and 2 items fit
// on two pages (patient B had 12 pages for 2 items).
func TestEmptyCategoriesAreLines(t *testing.T) {
	s := dossier.Summary{Patient: dossier.Patient{Name: "Patiënt B"}}
	for _, c := range dossier.Categories {
		sec := dossier.Section{Category: c.Key, Columns: []string{"Omschrijving", "Datum"}}
		if c.Key == dossier.CatProblems {
			for i := range 2 {
				sec.Items = append(sec.Items, dossier.Item{ID: fmt.Sprint(i), Cells: []string{fmt.Sprintf("Probleem %d", i), "01-01-2020"}})
			}
		}
		s.Sections = append(s.Sections, sec)
	}
	pdf, res := render(t, Input{Summary: s, Source: "PGO Zuid", GeneratedAt: genTime})
	text := pdfText(t, writeTemp(t, "b.pdf", pdf))
	if res.Pages > 2 || !strings.Contains(text, "Problemen (2 items)") || strings.Count(text, "geen gegevens in deze categorie") != len(dossier.Categories)-1 {
		t.Errorf("%d pages:\n%s", res.Pages, text)
	}
}
