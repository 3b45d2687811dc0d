package export

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

func TestRenderRejectsInvalidInput(t *testing.T) {
	bad := "\xff\xfe"
	tests := []struct {
		name   string
		modify func(*Input)
		want   string
	}{
		{"unknown conformance", func(in *Input) { in.Conformance = 7 }, "Conformance: unknown level 7"},
		{"zero time", func(in *Input) { in.GeneratedAt = time.Time{} }, "GeneratedAt: is zero"},
		{"year out of range", func(in *Input) { in.GeneratedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "GeneratedAt: year 10000"},
		{"no source", func(in *Input) { in.Source = "" }, "Source: the source PGO's name is empty"},
		{"source not UTF-8", func(in *Input) { in.Source = bad }, "Source: not valid UTF-8"},
		{"no patient name", func(in *Input) { in.Summary.Patient.Name = "" }, "Summary.Patient.Name: is empty"},
		{"BSN not UTF-8", func(in *Input) { in.Summary.Patient.BSN = bad }, "Summary.Patient.BSN: not valid UTF-8"},
		{"unknown category", func(in *Input) { in.Summary.Sections[1].Category = "x-ray" }, `Summary.Sections[1].Category: unknown category "x-ray"`},
		{"duplicate section", func(in *Input) { in.Summary.Sections[2].Category = in.Summary.Sections[1].Category }, "Summary.Sections[2].Category: \"problems\" appears twice"},
		{"no columns", func(in *Input) { in.Summary.Sections[0].Columns = nil }, "Summary.Sections[0].Columns: 0 columns, want 1 to 15"},
		{"too many columns", func(in *Input) { in.Summary.Sections[0].Columns = make([]string, 16) }, "Summary.Sections[0].Columns: 16 columns"},
		{"column not UTF-8", func(in *Input) { in.Summary.Sections[1].Columns[2] = bad }, "Summary.Sections[1].Columns[2]: not valid UTF-8"},
		{"cell count", func(in *Input) {
			it := &in.Summary.Sections[1].Items[3]
			it.Cells = it.Cells[:2]
		}, "Summary.Sections[1].Items[3]: 2 cells for 4 columns"},
		{"cell not UTF-8", func(in *Input) { in.Summary.Sections[1].Items[4].Cells[1] = bad }, "Summary.Sections[1].Items[4].Cells[1]: not valid UTF-8"},
		{"unselected unknown", func(in *Input) { in.Summary.Unselected = []dossier.Category{"zzz"} }, `Summary.Unselected[0]: unknown category "zzz"`},
		{"unselected and selected", func(in *Input) { in.Summary.Unselected = []dossier.Category{dossier.CatProblems} }, `Summary.Unselected[0]: "problems" is also a selected section`},
		{"unselected twice", func(in *Input) {
			in.Summary.Unselected = append(in.Summary.Unselected, in.Summary.Unselected[0])
		}, `Summary.Unselected[2]: "allergies" appears twice`},
		{"documents not selected", func(in *Input) {
			in.Summary.Unselected = append(in.Summary.Unselected, dossier.CatDocuments)
			in.Summary.Sections = in.Summary.Sections[:len(in.Summary.Sections)-2] // drop documents, other
		}, `Summary.Documents: 12 documents given but category "documents" is not selected`},
		{"document title not UTF-8", func(in *Input) { in.Summary.Documents[5].Title = bad }, "Summary.Documents[5].Title: not valid UTF-8"},
		{"negative size", func(in *Input) { in.Summary.Documents[0].Size = -1 }, "Summary.Documents[0].Size: negative (-1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Summary: synthSummary(60, 3, dossier.CatAllergies, dossier.CatEncounters), Source: "PGO Noord", GeneratedAt: genTime}
			tc.modify(&in)
			var buf bytes.Buffer
			_, err := Render(&buf, in)
			if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v (code %s), want EINVALID containing %q", err, pgo.ErrorCode(err), tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for invalid input", buf.Len())
			}
		})
	}
}

func TestRenderProgress(t *testing.T) {
	in := standardInput(PDFA2B)
	total := countItems(in.Summary)
	var calls [][2]int
	in.Progress = func(done, tot int) error {
		calls = append(calls, [2]int{done, tot})
		return nil
	}
	render(t, in)
	if len(calls) < 10 {
		t.Fatalf("%d progress calls, want a call about every 1%% of %d items", len(calls), total)
	}
	for i, c := range calls {
		if c[1] != total || c[0] < 1 || c[0] > total || (i > 0 && c[0] <= calls[i-1][0]) {
			t.Fatalf("call %d = %v: want increasing done of %d", i, c, total)
		}
	}
	if last := calls[len(calls)-1]; last != [2]int{total, total} {
		t.Errorf("last call %v, want [%d %d]", last, total, total)
	}
	if n := len(calls) - 1; calls[n-1][0] == total {
		t.Errorf("(total, total) reported before the PDF was complete")
	}
}

func TestRenderProgressStops(t *testing.T) {
	stop := errors.New("deadline")
	in := standardInput(PDFA2B)
	in.Progress = func(done, _ int) error {
		if done >= 50 {
			return stop
		}
		return nil
	}
	var buf bytes.Buffer
	if _, err := Render(&buf, in); !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written after the render was stopped", buf.Len())
	}
}

// TestRenderEmptySelection: a patient who selected nothing still gets a cover page
// that says so; an empty selection adds no pages.
func TestRenderEmptySelection(t *testing.T) {
	var unsel []dossier.Category
	for _, c := range dossier.Categories {
		unsel = append(unsel, c.Key)
	}
	in := Input{Summary: synthSummary(10, 1, unsel...), Source: "PGO Noord", GeneratedAt: genTime}
	pdf, res := render(t, in)
	if res.Pages != 1 {
		t.Errorf("Pages = %d, want the cover page only", res.Pages)
	}
	text := pdfText(t, writeTemp(t, "e.pdf", pdf))
	for _, want := range []string{"Er zijn geen categorieën geselecteerd.", "pagina 1 van 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}
