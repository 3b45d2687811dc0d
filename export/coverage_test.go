package export

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

// readableKeys are, for this test, the elements whose string values a reader must
// find in the document (issue 14: displays, texts, comments, notes, descriptions,
// string values, also inside extensions; names, address parts and units). The
// list is kept here, apart from the dossier package's own, so that the test states
// the requirement rather than repeating the implementation.
var readableKeys = map[string]bool{
	"display": true, "text": true, "comment": true, "description": true, "valueString": true,
	"patientInstruction": true, "conclusion": true, "title": true, "name": true, "family": true,
	"given": true, "prefix": true, "suffix": true, "line": true, "city": true, "district": true,
	"postalCode": true, "unit": true, "alias": true,
}

// readable returns the human-readable strings of one FHIR resource (JSON).
func readable(t testing.TB, data []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, el := range x {
				if k != "div" && k != "meta" {
					walk(k, el)
				}
			}
		case []any:
			for _, el := range x {
				walk(key, el)
			}
		case string:
			if readableKeys[key] && strings.TrimSpace(x) != "" {
				out = append(out, x)
			}
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

// coverage is how many of a file's strings the document text holds.
type coverage struct {
	file           string
	found, total   int
	missing        []string
	resourceType   string
	resourceSource string
}

// measure renders the entries (all categories selected) and checks every
// readable string of every entry against pdftotext's text of the PDF.
func measure(t *testing.T, in dossier.Input) ([]coverage, Result) {
	t.Helper()
	var all []dossier.Category
	for _, c := range dossier.Categories {
		all = append(all, c.Key)
	}
	sum, err := dossier.Preview(in, all)
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	pdf, res := render(t, Input{Summary: sum, Source: "PGO Noord", GeneratedAt: genTime})
	text := squash(pdfText(t, writeTemp(t, "doc.pdf", pdf)))
	g, err := loadGlyphs()
	if err != nil {
		t.Fatal(err)
	}
	var out []coverage
	for _, e := range in.Entries {
		c := coverage{file: e.Source}
		if c.file == "" {
			c.file = fmt.Sprintf("entry %d", e.Index)
		}
		for _, s := range readable(t, e.JSON) {
			c.total++
			if strings.Contains(text, squash(g.clean(s))) {
				c.found++
			} else {
				c.missing = append(c.missing, s)
			}
		}
		out = append(out, c)
	}
	return out, res
}

func medmijInputs(t *testing.T) map[string]dossier.Input {
	t.Helper()
	patA, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	// The portability examples (DocumentReference, Binary) are about patient A:
	// they are rendered with that patient's Patient resource.
	ex := dossier.Input{Source: "directory"}
	files, _ := filepath.Glob(shared.Path("medmij", "examples", "*.json"))
	files = append(files, shared.Path("medmij", "bgz-patA", "_medmij-bgz-test-patA-XXX-Rijn.json"))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ex.Entries = append(ex.Entries, fhir.Entry{Index: i, Source: filepath.Base(f), JSON: data})
	}
	return map[string]dossier.Input{"bgz-patA": patA, "examples": ex}
}

// TestCoverageMedMij renders MedMij's test material and reports, per file, how
// many of its human-readable strings pdftotext finds in the PDF.
func TestCoverageMedMij(t *testing.T) {
	for name, in := range medmijInputs(t) {
		t.Run(name, func(t *testing.T) {
			cov, _ := measure(t, in)
			found, total := 0, 0
			for _, c := range cov {
				found += c.found
				total += c.total
				t.Logf("%5.1f%% %3d/%3d %s", pct(c.found, c.total), c.found, c.total, c.file)
				for _, m := range c.missing {
					t.Logf("        missing %q", m)
				}
			}
			t.Logf("%s: %d/%d strings (%.1f%%)", name, found, total, pct(found, total))
			if found != total {
				t.Errorf("%d strings missing from the PDF", total-found)
			}
		})
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
