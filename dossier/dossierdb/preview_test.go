package dossierdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

// The consent screen's overview holds exactly dossier.PreviewRows items of a
// category with more, the first ones the PDF lists, with the cells the PDF
// shows: a reference to a row the preview does not list (the Medication stored
// after the requests) is shown by its target, as in the PDF. A category at or
// under the bound is complete; the counts are the full ones.
func TestOverviewPreviewsFirstRows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const requests = dossier.PreviewRows + 5
	res := []string{`{"resourceType":"Patient","id":"p1","name":[{"family":"Jansen","given":["Anna"]}],"birthDate":"1970-03-04"}`}
	for i := range 3 {
		res = append(res, fmt.Sprintf(`{"resourceType":"Condition","id":"c%d","code":{"text":"Probleem %d"},"subject":{"reference":"Patient/p1"}}`, i, i))
	}
	for i := range requests {
		res = append(res, fmt.Sprintf(`{"resourceType":"MedicationRequest","id":"r%03d","status":"active","intent":"order",
			"medicationReference":{"reference":"Medication/med1","display":"zie medicatie"},"subject":{"reference":"Patient/p1"},
			"authoredOn":"2024-01-%02d"}`, i, i%28+1))
	}
	res = append(res, `{"resourceType":"Medication","id":"med1","code":{"text":"Apixaban 2.5mg"}}`)
	in, err := dossier.ReadInput(bundle(t, "collection", res...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ov, err := f.svc.Overview(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	full, err := f.svc.Summary(ctx, f.user, []dossier.Category{dossier.CatPatient, dossier.CatProblems, dossier.CatMedication})
	if err != nil {
		t.Fatal(err)
	}
	want := map[dossier.Category]int{dossier.CatPatient: 1, dossier.CatProblems: 3, dossier.CatMedication: requests + 1}
	if fmt.Sprint(ov.Counts) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", ov.Counts, want)
	}
	if len(ov.Summary.Sections) != 3 || len(full.Sections) != 3 {
		t.Fatalf("%d sections, want 3", len(ov.Summary.Sections))
	}
	for i, sec := range ov.Summary.Sections {
		n := min(want[sec.Category], dossier.PreviewRows)
		if len(sec.Items) != n {
			t.Fatalf("%s: %d items in the preview, want %d", sec.Category, len(sec.Items), n)
		}
		for j, it := range sec.Items {
			w := full.Sections[i].Items[j]
			if it.ID != w.ID || strings.Join(it.Cells, "|") != strings.Join(w.Cells, "|") {
				t.Fatalf("%s item %d: %s %q, want %s %q", sec.Category, j, it.ID, it.Cells, w.ID, w.Cells)
			}
		}
	}
	med := ov.Summary.Sections[2].Items
	if med[0].ID != "MedicationRequest/r000" || med[len(med)-1].ID != fmt.Sprintf("MedicationRequest/r%03d", dossier.PreviewRows-1) {
		t.Fatalf("medication preview from %s to %s", med[0].ID, med[len(med)-1].ID)
	}
	if med[0].Cells[1] != "Apixaban 2.5mg" {
		t.Fatalf("medication %q: the reference was not shown by its target", med[0].Cells[1])
	}
	if ov.Summary.Patient.Name != full.Patient.Name || full.Patient.Name == "" {
		t.Fatalf("patient %q, want %q", ov.Summary.Patient.Name, full.Patient.Name)
	}
}
