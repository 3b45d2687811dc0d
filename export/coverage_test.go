package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
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
	file         string
	found, total int
	missing      []string
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
	raw := pdfText(t, writeTemp(t, "doc.pdf", pdf))
	text := squash(raw)
	// The built-in proof agrees: it found nothing missing, checked every item,
	// and the text it reads is the text pdftotext reads.
	if res.Proof.Missing != 0 || res.Proof.Items != countItems(sum) || res.Proof.Strings < countItems(sum) {
		t.Errorf("proof %+v for %d items", res.Proof, countItems(sum))
	}
	own, err := documentText(pdf, false)
	if err != nil {
		t.Fatal(err)
	}
	if squash(own) != text {
		t.Errorf("the proof's text extraction differs from pdftotext's (%d vs %d bytes)", len(squash(own)), len(text))
	}
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

// TestCoverageGenerated renders generated standard and large dossiers: every
// readable string of every resource is in pdftotext's text, and the proof agrees.
func TestCoverageGenerated(t *testing.T) {
	for _, size := range []dossier.Size{dossier.SizeStandard, dossier.SizeLarge} {
		t.Run(string(size), func(t *testing.T) {
			data, err := dossier.Generate(size, 42)
			if err != nil {
				t.Fatal(err)
			}
			in, err := dossier.ReadInput(data)
			if err != nil {
				t.Fatal(err)
			}
			cov, res := measure(t, in)
			found, total := 0, 0
			for _, c := range cov {
				found += c.found
				total += c.total
				for _, m := range c.missing {
					t.Errorf("%s: missing %q", c.file, m)
				}
			}
			t.Logf("%s: %d resources, %d/%d strings (%.1f%%), %d pages, proof %+v", size, len(cov), found, total, pct(found, total), res.Pages, res.Proof)
		})
	}
}

// A rendering that would lose a string is a bug: Render fails (EINTERNAL) and
// writes nothing. Here an item claims a resource string that nothing shows.
func TestProofFailsOnLostString(t *testing.T) {
	in := standardInput(PDFA2B)
	it := &in.Summary.Sections[1].Items[3]
	it.Texts = append(it.Texts, "Deze zin staat nergens in het document")
	var buf bytes.Buffer
	_, err := Render(&buf, in)
	if pgo.ErrorCode(err) != pgo.EINTERNAL || !strings.Contains(err.Error(), "1 of") || !strings.Contains(err.Error(), "item 4") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "nergens") {
		t.Error("the error repeats the missing text (health data)")
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written", buf.Len())
	}
	// The proof itself: drop one written string from a document's text.
	g, _ := loadGlyphs()
	_, log, err := layout(standardInput(PDFA2B), g)
	if err != nil {
		t.Fatal(err)
	}
	var flat []byte
	for _, p := range log.pieces {
		flat = squashTo(flat, p)
	}
	if res, _ := log.verify(flat); res.Missing != 0 {
		t.Fatalf("complete text: %+v", res)
	}
	gone := squash(log.pieces[len(log.pieces)/2])
	cut := bytes.Replace(flat, []byte(gone), nil, 1)
	if res, _ := log.verify(cut); res.Missing == 0 {
		t.Fatalf("text without %q passed: %+v", gone, res)
	}
}

// The MedMij test patient as PDF/A-1b passes PDFBox Preflight and the structural
// checks (subset-tagged fonts with a CIDSet, everything embedded).
func TestMedMijPDFA1B(t *testing.T) {
	sum, err := dossier.Preview(medmijInputs(t)["bgz-patA"], allCategories())
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := render(t, Input{Summary: sum, Source: "PGO Noord", GeneratedAt: genTime, Conformance: PDFA1B})
	for _, p := range pdfaProblems(t, pdf, 1) {
		t.Error(p)
	}
	path := writeTemp(t, "patA-1b.pdf", pdf)
	for _, p := range toolProblems(t, path) {
		t.Error(p)
	}
	out, err := exec.Command(shared.Path("tools", "pdfa-preflight"), path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("is a valid PDF/A-1b file")) {
		t.Errorf("preflight: %v\n%s", err, out)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
