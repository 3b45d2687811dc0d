package export

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

var genTime = time.Date(2026, 11, 23, 17, 26, 11, 0, time.UTC)

func render(t testing.TB, in Input) ([]byte, Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Render(&buf, in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.Bytes(), res
}

func standardInput(c Conformance) Input {
	return Input{Summary: synthSummary(300, 7, dossier.CatAllergies, dossier.CatEncounters),
		Source: "PGO Noord", GeneratedAt: genTime, Conformance: c}
}

// TestRenderConforms renders the standard and large dossiers and runs every
// structural PDF/A check available here; the PDF/A-1b variant also goes through
// PDFBox Preflight.
func TestRenderConforms(t *testing.T) {
	large := Input{Summary: synthSummary(10000, 11, dossier.CatEncounters), Source: "PGO Zuid", GeneratedAt: genTime}
	tests := []struct {
		name      string
		in        Input
		part      int
		minPages  int
		preflight bool
	}{
		{"standard PDF/A-2b", standardInput(PDFA2B), 2, 5, false},
		{"standard PDF/A-1b", standardInput(PDFA1B), 1, 5, true},
		{"large PDF/A-2b", large, 2, 150, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pdf, res := render(t, tc.in)
			if res.Size != int64(len(pdf)) || res.SHA256 != sha256.Sum256(pdf) || res.SHA1 != sha1.Sum(pdf) {
				t.Errorf("Result %d bytes / hashes do not describe the %d bytes written", res.Size, len(pdf))
			}
			if res.Pages < tc.minPages {
				t.Errorf("Pages = %d, want at least %d", res.Pages, tc.minPages)
			}
			for _, p := range pdfaProblems(t, pdf, tc.part) {
				t.Error(p)
			}
			path := writeTemp(t, "out.pdf", pdf)
			for _, p := range toolProblems(t, path) {
				t.Error(p)
			}
			if tc.preflight {
				out, err := exec.Command(shared.Path("tools", "pdfa-preflight"), path).CombinedOutput()
				if err != nil || !bytes.Contains(out, []byte("is a valid PDF/A-1b file")) {
					t.Errorf("preflight: %v\n%s", err, out)
				}
			}
			text := pdfText(t, path)
			checkSelection(t, tc.in.Summary, text)
			checkRepeatedHeaders(t, tc.in.Summary, text)
			if got := strings.Count(text, "\f"); got != res.Pages {
				t.Errorf("pdftotext saw %d pages, Result.Pages = %d", got, res.Pages)
			}
			if !strings.Contains(text, "pagina 1 van "+strconv.Itoa(res.Pages)) || !strings.Contains(text, "pagina "+strconv.Itoa(res.Pages)+" van "+strconv.Itoa(res.Pages)) {
				t.Errorf("page numbers \"pagina X van %d\" missing", res.Pages)
			}
		})
	}
}

var markerRE = regexp.MustCompile(`\[([A-Z]{2})(\d{5})\]`)

// checkSelection compares the text item by item: every cell of every selected item
// appears, in order (so a cell cannot be matched by another item's text), and no
// item of an unselected category appears.
func checkSelection(t *testing.T, s dossier.Summary, text string) {
	t.Helper()
	flat := squash(text)
	pos := 0
	for _, sec := range s.Sections {
		units := columnUnits(sec)
		for _, it := range sec.Items {
			for _, cells := range itemRows(it.Cells, units) {
				for c, cell := range cells {
					want := squash(cell)
					if want == "" {
						continue
					}
					i := strings.Index(flat[pos:], want)
					if i < 0 {
						t.Fatalf("%s item %s cell %d (%.80q) not found in order in the PDF text", sec.Category, it.ID, c, cell)
					}
					pos += i + len(want)
				}
			}
		}
	}
	for _, d := range s.Documents {
		if !strings.Contains(flat, squash(d.Title)) {
			t.Errorf("document %q missing from the closing list", d.Title)
		}
	}
	present := map[string]bool{}
	for _, m := range markerRE.FindAllStringSubmatch(text, -1) {
		present[m[1]] = true
	}
	for _, c := range s.Unselected {
		for _, sc := range synthCategories {
			if sc.cat == c && present[sc.prefix] {
				t.Errorf("text holds items of unselected category %s (marker prefix %s)", c, sc.prefix)
			}
		}
		if strings.Contains(text, label(c)+" (") {
			t.Errorf("text holds a section heading for unselected category %s", c)
		}
	}
}

// checkRepeatedHeaders checks that on every page, the first table row is preceded
// by that table's column headings.
func checkRepeatedHeaders(t *testing.T, s dossier.Summary, text string) {
	t.Helper()
	heads := map[string]string{"DL": squash("Titel Soort Grootte Datum")}
	for _, sc := range synthCategories {
		heads[sc.prefix] = squash(strings.Join(sc.cols, " "))
	}
	for n, pg := range strings.Split(text, "\f") {
		m := markerRE.FindStringIndex(pg)
		if m == nil {
			continue
		}
		prefix := pg[m[0]+1 : m[0]+3]
		if !strings.Contains(squash(pg[:m[0]]), heads[prefix]) {
			t.Errorf("page %d: first row %s not preceded by the column headings", n+1, pg[m[0]:m[1]])
		}
	}
}

// TestRenderDeterministic: the same input twice gives the same bytes apart from
// the document ID, which is fresh per file.
func TestRenderDeterministic(t *testing.T) {
	idRE := regexp.MustCompile(`/ID\s*\[\s*<[0-9A-Fa-f]*>\s*<[0-9A-Fa-f]*>\s*\]`)
	for _, c := range []Conformance{PDFA2B, PDFA1B} {
		in := standardInput(c)
		a, _ := render(t, in)
		var b []byte
		var wg sync.WaitGroup
		for i := range 2 { // concurrent renderings must not disturb each other either
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf bytes.Buffer
				if _, err := Render(&buf, in); err != nil {
					t.Error(err)
				}
				if i == 0 {
					b = buf.Bytes()
				}
			}()
		}
		wg.Wait()
		if n := len(idRE.FindAll(a, -1)); n != 1 {
			t.Fatalf("%s: found %d trailer IDs, want 1", c, n)
		}
		na := idRE.ReplaceAll(a, []byte("/ID[]"))
		nb := idRE.ReplaceAll(b, []byte("/ID[]"))
		if !bytes.Equal(na, nb) {
			i := 0
			for i < min(len(na), len(nb)) && na[i] == nb[i] {
				i++
			}
			t.Errorf("%s: renderings differ at byte %d beyond the document ID", c, i)
		}
	}
}

// TestRenderAccents: accented names survive into the extracted text, and a
// character the font lacks is written as its code point rather than dropped.
func TestRenderAccents(t *testing.T) {
	in := standardInput(PDFA2B)
	in.Summary.Patient.Name = "Zoë Ødegård-Brontë 中"
	in.Source = "PGO Noörd"
	pdf, _ := render(t, in)
	text := pdfText(t, writeTemp(t, "a.pdf", pdf))
	for _, want := range []string{"Zoë Ødegård-Brontë [U+4E2D]", "José Gonçalves", "Anaïs Müller", "Søren Kierkegård",
		"Ángel Peña", "Loïs van der Ëijk", "Noël Hüsken", "Patiënt", "Levothyroxine 50 µg", "PGO Noörd",
		"maandag 23 november 2026 om 18:26 uur", "07-03-1958", "afgeschermd", "Allergieën"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

var wordBox = regexp.MustCompile(`<word xMin="[-\d.]+" yMin="([-\d.]+)" xMax="[-\d.]+" yMax="([-\d.]+)">`)

// TestRenderWideLongTable: a table with the most columns allowed, every cell a
// long text (with an unbroken 300-character token), loses no text and draws
// nothing below the page: long cells continue on further rows and pages.
func TestRenderWideLongTable(t *testing.T) {
	cols := make([]string, maxColumns)
	for i := range cols {
		cols[i] = "Kolom " + strconv.Itoa(i+1)
	}
	sec := dossier.Section{Category: dossier.CatOther, Columns: cols}
	for i := range 3 {
		cells := make([]string, maxColumns)
		for c := range cells {
			cells[c] = strings.Repeat("woord"+strconv.Itoa(c)+" ", 250) + strings.Repeat("x", 300)
		}
		cells[0] = "[OV" + strconv.Itoa(10000+i) + "] " + cells[0]
		sec.Items = append(sec.Items, dossier.Item{ID: "X/" + strconv.Itoa(i), Cells: cells})
	}
	in := Input{Summary: dossier.Summary{Patient: dossier.Patient{Name: "Test"}, Sections: []dossier.Section{sec}},
		Source: "PGO Noord", GeneratedAt: genTime}
	pdf, res := render(t, in)
	path := writeTemp(t, "wide.pdf", pdf)
	for _, p := range pdfaProblems(t, pdf, 2) {
		t.Error(p)
	}
	checkSelection(t, in.Summary, pdfText(t, path))
	out, err := exec.Command("pdftotext", "-bbox", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	const pageHeight = 841.89 // A4 in points
	for _, m := range wordBox.FindAllStringSubmatch(string(out), -1) {
		y0, _ := strconv.ParseFloat(m[1], 64)
		y1, _ := strconv.ParseFloat(m[2], 64)
		if y0 < 0 || y1 > pageHeight {
			t.Fatalf("a word is drawn outside the page (y %s..%s)", m[1], m[2])
		}
	}
	if res.Pages < 10 {
		t.Errorf("Pages = %d: %d cells of ~2000 characters cannot fit in fewer than 10 pages", res.Pages, 3*maxColumns)
	}
}
