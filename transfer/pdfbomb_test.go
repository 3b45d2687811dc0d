package transfer_test

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// bombZeros is what the bombs inflate to: 256 MiB of zeros deflate to about 255 KB.
// Without the budget, pdfcpu's reading takes several times that in heap; half the
// review's 512 MiB keeps the test quick and the effect plain.
const bombZeros = 256 << 20

// maxBombHeap bounds the heap a refused bomb may cost the worker: the budget scan
// inflates into io.Discard, so a few zlib windows and the response body.
const maxBombHeap = 64 << 20

var bombZeroStream = sync.OnceValue(func() []byte { return bombDeflate(make([]byte, bombZeros)) })

func bombDeflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// bombWriter writes numbered objects and remembers their offsets for a
// cross-reference table or stream.
type bombWriter struct {
	buf  bytes.Buffer
	offs []int
}

func newBombWriter() *bombWriter {
	w := &bombWriter{}
	w.buf.WriteString("%PDF-1.7\n")
	return w
}

// obj writes the next object: dict, and the stream data after it when not nil.
func (w *bombWriter) obj(dict string, stream []byte) int {
	w.offs = append(w.offs, w.buf.Len())
	fmt.Fprintf(&w.buf, "%d 0 obj\n%s\n", len(w.offs), dict)
	if stream != nil {
		w.buf.WriteString("stream\n")
		w.buf.Write(stream)
		w.buf.WriteString("\nendstream\n")
	}
	w.buf.WriteString("endobj\n")
	return w.offs[len(w.offs)-1]
}

// table ends the file with a classic cross-reference table (ISO 32000-1 §7.5.4).
func (w *bombWriter) table() []byte {
	at := w.buf.Len()
	fmt.Fprintf(&w.buf, "xref\n0 %d\n0000000000 65535 f \n", len(w.offs)+1)
	for _, o := range w.offs {
		fmt.Fprintf(&w.buf, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&w.buf, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(w.offs)+1, at)
	return w.buf.Bytes()
}

// startxref ends the file pointing at a cross-reference stream at offset at.
func (w *bombWriter) startxref(at int) []byte {
	fmt.Fprintf(&w.buf, "startxref\n%d\n%%%%EOF\n", at)
	return w.buf.Bytes()
}

// bombPDF is the review's document: a catalog, an empty page tree and a
// cross-reference stream that inflates to bombZeros bytes (filter as given; the
// data is encoded to match).
func bombPDF(filter string, data []byte) []byte {
	w := newBombWriter()
	w.obj("<</Type/Catalog/Pages 2 0 R>>", nil)
	w.obj("<</Type/Pages/Kids[]/Count 0>>", nil)
	at := w.obj(fmt.Sprintf("<</Type/XRef/Size 4/W[1 4 2]/Root 1 0 R/Filter%s/Length %d>>", filter, len(data)), data)
	return w.startxref(at)
}

// objStmBomb hides the catalog in an object stream (ISO 32000-1 §7.5.7) whose
// data goes on with bombZeros zeros, listed by an uncompressed cross-reference
// stream, so pdfcpu must inflate the object stream to find the root.
func objStmBomb() []byte {
	var raw bytes.Buffer
	raw.WriteString("1 0 <</Type/Catalog/Pages 2 0 R>>\n")
	raw.Write(make([]byte, bombZeros))
	data := bombDeflate(raw.Bytes())
	w := newBombWriter()
	w.offs = append(w.offs, 0) // object 1 lives in the object stream
	o2 := w.obj("<</Type/Pages/Kids[]/Count 0>>", nil)
	o3 := w.obj(fmt.Sprintf("<</Type/ObjStm/N 1/First 4/Filter/FlateDecode/Length %d>>", len(data)), data)
	o4 := w.buf.Len()
	var xref bytes.Buffer
	entry := func(typ byte, f2 uint32, f3 uint16) {
		xref.Write([]byte{typ, byte(f2 >> 24), byte(f2 >> 16), byte(f2 >> 8), byte(f2), byte(f3 >> 8), byte(f3)})
	}
	entry(0, 0, 0xffff)
	entry(2, 3, 0) // object 1: in object stream 3, index 0
	entry(1, uint32(o2), 0)
	entry(1, uint32(o3), 0)
	entry(1, uint32(o4), 0)
	w.obj(fmt.Sprintf("<</Type/XRef/Size 5/W[1 4 2]/Root 1 0 R/Length %d>>", xref.Len()), xref.Bytes())
	return w.startxref(o4)
}

// pageTreePDF is a PDF with a correct cross-reference table whose page tree has the
// given /Kids and /Count.
func pageTreePDF(kids string, count int) []byte {
	w := newBombWriter()
	w.obj("<</Type/Catalog/Pages 2 0 R>>", nil)
	w.obj(fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", kids, count), nil)
	return w.table()
}

// A decompression bomb from a source ends the transfer failed as not_pdf, before
// pdfcpu reads it: the heap stays flat and nothing is stored.
func TestPDFBombRefused(t *testing.T) {
	zeros := bombZeroStream()
	cases := []struct {
		name string
		body func() []byte
	}{
		{"xref stream", func() []byte { return bombPDF("/FlateDecode", zeros) }},
		{"object stream", objStmBomb},
		{"ASCIIHex over Flate", func() []byte {
			return bombPDF("[/ASCIIHexDecode/FlateDecode]", append([]byte(hex.EncodeToString(zeros)), '>'))
		}},
		{"Flate over Flate", func() []byte { return bombPDF("[/FlateDecode/FlateDecode]", bombDeflate(zeros)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			tr := e.consent(t)
			e.src.Set(transfertest.Faults{Body: c.body()})
			grew := heapRise(func() { tr = e.fetch(t, tr.ID) })
			t.Logf("heap grew %d MiB", grew>>20)
			if grew > maxBombHeap {
				t.Errorf("heap grew %d MiB while refusing the bomb, want < %d MiB", grew>>20, maxBombHeap>>20)
			}
			if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonNotPDF {
				t.Fatalf("got %s/%s (%s), want failed/not_pdf", tr.Status, tr.Failure, tr.FailureDetail)
			}
			if !strings.Contains(tr.FailureDetail, "inflates to more than") {
				t.Errorf("refused for another reason: %s", tr.FailureDetail)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored", n)
			}
		})
	}
}

// A PDF without a page is no dossier: refused as not_pdf, whether the page tree
// says so (/Count 0) or claims a page it does not have.
func TestPDFWithoutPagesRefused(t *testing.T) {
	for name, body := range map[string][]byte{
		"Count 0":           pageTreePDF("", 0),
		"Count 1, no kids":  pageTreePDF("", 1),
		"kid is not a page": pageTreePDF("1 0 R", 1),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			tr := e.consent(t)
			e.src.Set(transfertest.Faults{Body: body})
			tr = e.fetch(t, tr.ID)
			if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonNotPDF {
				t.Fatalf("got %s/%s (%s), want failed/not_pdf", tr.Status, tr.Failure, tr.FailureDetail)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored", n)
			}
		})
	}
}

// Real documents stay within the budget: MedMij's example PDF and our own
// renderer's large dossier (420 pages, which inflates to 14.5 times its size,
// beyond the 16 MiB floor) are stored.
func TestPDFRealDocumentsStored(t *testing.T) {
	large := renderedDossier(t, dossier.SizeLarge)
	for name, body := range map[string][]byte{"MedMij example": nil, "large dossier": large} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			tr := e.consent(t)
			e.src.Set(transfertest.Faults{Body: body})
			tr = e.fetch(t, tr.ID)
			if tr.Status != transfer.StatusDone {
				t.Fatalf("got %s/%s (%s), want done", tr.Status, tr.Failure, tr.FailureDetail)
			}
			want := body
			if want == nil {
				want = e.pdf
			}
			if got := e.open(t, tr.ID); !bytes.Equal(got, want) {
				t.Errorf("stored %d bytes, want the %d sent", len(got), len(want))
			}
		})
	}
}

// renderedDossier renders a generated dossier of the given size, all categories,
// as the source's export does.
func renderedDossier(t *testing.T, size dossier.Size) []byte {
	t.Helper()
	raw, err := dossier.Generate(size, 1)
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(raw)
	if err != nil {
		t.Fatal(err)
	}
	var cats []dossier.Category
	for _, c := range dossier.Categories {
		cats = append(cats, c.Key)
	}
	sum, err := dossier.Preview(in, cats)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := export.Render(&buf, export.Input{Summary: sum, Source: "PGO Noord", GeneratedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
