package pdfa

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

var created = time.Date(2026, 11, 23, 18, 26, 11, 0, time.FixedZone("CET", 3600))

func meta() Meta {
	return Meta{Title: "Dossier", Author: "PGO Noörd", Subject: "Test", Creator: "pgo", Created: created}
}

// plainPDF is a one-page maroto document (core font; fine for these tests).
func plainPDF(t *testing.T) []byte {
	t.Helper()
	m := maroto.New()
	m.AddAutoRow(text.NewCol(12, "hallo"))
	doc, err := m.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return doc.GetBytes()
}

func TestConvertWritesMetadata(t *testing.T) {
	for _, lvl := range []Level{A2B, A1B} {
		out, pages, err := Convert(plainPDF(t), meta(), lvl)
		if err != nil {
			t.Fatalf("%s: %v", lvl, err)
		}
		if pages != 1 {
			t.Errorf("%s: pages = %d", lvl, pages)
		}
		for _, want := range []string{
			"<pdfaid:part>" + string(rune('0'+lvl.Part())) + "</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>",
			"<xmp:CreateDate>2026-11-23T18:26:11+01:00</xmp:CreateDate>", "<dc:creator><rdf:Seq><rdf:li>PGO Noörd</rdf:li>",
			"/CreationDate(D:20261123182611+01'00')", "/ModDate(D:20261123182611+01'00')",
			"/GTS_PDFA1", "sRGB IEC61966-2.1",
		} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%s: output lacks %q", lvl, want)
			}
		}
		if bytes.Contains(out, []byte("/ObjStm")) || bytes.Contains(out, []byte("/XRef")) {
			t.Errorf("%s: output has object or xref streams", lvl)
		}
		if _, err := api.ReadContext(bytes.NewReader(out), model.NewDefaultConfiguration()); err != nil {
			t.Errorf("%s: pdfcpu cannot read the output: %v", lvl, err)
		}
	}
}

func TestConvertRejects(t *testing.T) {
	withOpenAction := func(t *testing.T) []byte {
		ctx, err := api.ReadContext(bytes.NewReader(plainPDF(t)), model.NewDefaultConfiguration())
		if err != nil {
			t.Fatal(err)
		}
		root, _ := ctx.Catalog()
		js := types.NewDict()
		js.InsertName("S", "JavaScript")
		js.InsertString("JS", "app.alert(1)")
		root.Insert("OpenAction", js)
		var b bytes.Buffer
		if err := api.WriteContext(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name string
		in   func(*testing.T) []byte
		meta func(*Meta)
		lvl  Level
		want string
	}{
		{"unknown level", plainPDF, func(*Meta) {}, Level(9), "unknown level 9"},
		{"zero date", plainPDF, func(m *Meta) { m.Created = time.Time{} }, A2B, "Meta.Created is zero"},
		{"year 10000", plainPDF, func(m *Meta) { m.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, A2B, "outside 1000-9999"},
		{"title not UTF-8", plainPDF, func(m *Meta) { m.Title = "\xff" }, A2B, "Meta.Title is not valid UTF-8"},
		{"not a PDF", func(*testing.T) []byte { return []byte("hello, world") }, func(*Meta) {}, A2B, "read input"},
		{"JavaScript open action", withOpenAction, func(*Meta) {}, A1B, "/OpenAction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := meta()
			tc.meta(&m)
			_, _, err := Convert(tc.in(t), m, tc.lvl)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestPatchInfoDates(t *testing.T) {
	date := "D:20261123182611+01'00'"
	tests := []struct {
		name, in, want string
	}{
		{"ok", "<</CreationDate(D:20261123172611+00'00')/ModDate(D:20261123172611+00'00')>>", ""},
		{"missing", "<</CreationDate(D:20261123172611+00'00')>>", "/ModDate 0 times"},
		{"twice", "/CreationDate(D:20261123172611+00'00')/CreationDate(D:20261123172611+00'00')/ModDate(D:20261123172611+00'00')", "/CreationDate 2 times"},
		{"other length", "<</CreationDate(D:20261123172611Z)/ModDate(D:20261123172611Z)>>", "cannot be patched"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			err := patchInfoDates(b, date)
			if tc.want == "" {
				if err != nil || strings.Count(string(b), date) != 2 {
					t.Fatalf("err = %v, out %s", err, b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCanonicalOrderRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no startxref": "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
		"xref stream":  "%PDF-1.7\n1 0 obj\n<</Type/XRef>>\nendobj\nstartxref\n9\n%%EOF\n",
		"bad entry":    "%PDF-1.7\n1 0 obj\n<<>>\nendobj\nxref\n0 2\n0000000000 65535 f\r\n0000000003 00000 n\r\ntrailer\n<<>>\nstartxref\n31\n%%EOF\n",
	} {
		if _, err := canonicalOrder([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
