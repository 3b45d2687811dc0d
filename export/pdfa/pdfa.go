// Package pdfa turns a plain PDF (as maroto/gofpdf writes it: PDF 1.3, fonts
// embedded, no metadata) into a PDF/A-2b or PDF/A-1b file with pdfcpu: an sRGB
// OutputIntent, an uncompressed XMP packet with the PDF/A identification schema,
// an Info dictionary equal to the XMP, a document ID, and (for part 1) a classic
// cross-reference table without object streams. It knows nothing about dossiers
// or databases; the caller hands in bytes and metadata.
//
// What it does not do: embed fonts, remove transparency or JavaScript. The input
// must already be free of those; the export package's tests check its output.
package pdfa

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// srgbICC is an ICC v2 sRGB profile (Debian icc-profiles-free, Zlib licence; see
// srgb-LICENSE.txt). Embedding it keeps the binary free of runtime file lookups.
//
//go:embed srgb.icc
var srgbICC []byte

// sRGBCondition is the registered output condition of IEC 61966-2.1 in the ICC
// characterization data registry, used as OutputConditionIdentifier.
const sRGBCondition = "sRGB IEC61966-2.1"

func init() {
	// pdfcpu otherwise creates a config directory under $HOME on first use; a
	// server must not write there (and may have no home directory).
	model.ConfigPath = "disable"
}

// Level is a PDF/A conformance level this package can produce.
type Level int

const (
	// A2B is PDF/A-2b (ISO 19005-2, level B): the default for the export.
	A2B Level = iota
	// A1B is PDF/A-1b (ISO 19005-1, level B): the same document without object
	// or cross-reference streams, so that PDFBox Preflight (PDF/A-1 only) can check it.
	A1B
)

// Part is the ISO 19005 part number written to pdfaid:part.
func (l Level) Part() int {
	if l == A1B {
		return 1
	}
	return 2
}

// String is the conventional name, e.g. "PDF/A-2b".
func (l Level) String() string {
	switch l {
	case A2B:
		return "PDF/A-2b"
	case A1B:
		return "PDF/A-1b"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Valid reports whether l is one of the defined levels.
func (l Level) Valid() bool { return l == A2B || l == A1B }

// Meta is the document metadata written both to the Info dictionary and the XMP
// packet (ISO 19005-1 §6.7.3: they must be equivalent).
type Meta struct {
	Title   string
	Author  string    // dc:creator / Info Author
	Subject string    // dc:description / Info Subject
	Creator string    // xmp:CreatorTool / Info Creator
	Lang    string    // catalog /Lang and dc:language; default "nl-NL"
	Created time.Time // CreationDate = ModDate; its zone is kept
}

func (m Meta) lang() string {
	if m.Lang == "" {
		return "nl-NL"
	}
	return m.Lang
}

func (m Meta) validate() error {
	if m.Created.IsZero() {
		return errors.New("pdfa: Meta.Created is zero")
	}
	for name, v := range map[string]string{"Title": m.Title, "Author": m.Author, "Subject": m.Subject, "Creator": m.Creator, "Lang": m.Lang} {
		if !utf8.ValidString(v) {
			return fmt.Errorf("pdfa: Meta.%s is not valid UTF-8", name)
		}
	}
	if y := m.Created.Year(); y < 1000 || y > 9999 {
		return fmt.Errorf("pdfa: Meta.Created year %d is outside 1000-9999", y)
	}
	return nil
}

// Convert reads the PDF in raw and returns it as a PDF/A file of the given level,
// with its page count.
func Convert(raw []byte, m Meta, lvl Level) ([]byte, int, error) {
	if !lvl.Valid() {
		return nil, 0, fmt.Errorf("pdfa: unknown level %d", int(lvl))
	}
	if err := m.validate(); err != nil {
		return nil, 0, err
	}
	conf := model.NewDefaultConfiguration()
	// PDF/A-1 is based on PDF 1.4: no object streams, no cross-reference streams
	// (ISO 19005-1 §6.1.4). Part 2 allows both, but a classic xref table is what
	// canonicalOrder can sort, and it keeps the Info dictionary patchable in place.
	conf.WriteObjectStream = false
	conf.WriteXRefStream = false
	// gofpdf output shares its fonts and resources already; pdfcpu's optimizer
	// found nothing to merge and cost ~95% of the post-processing time.
	conf.Optimize = false
	conf.OptimizeBeforeWriting = false
	ctx, err := api.ReadValidateAndOptimize(bytes.NewReader(raw), conf)
	if err != nil {
		return nil, 0, fmt.Errorf("pdfa: read input: %w", err)
	}
	if ctx.Encrypt != nil {
		return nil, 0, errors.New("pdfa: input is encrypted (ISO 19005-2 §6.1.3)")
	}
	if err := compressContents(ctx); err != nil {
		return nil, 0, err
	}
	producer := "pdfcpu " + model.VersionStr
	if err := addCatalogEntries(ctx, m, lvl, producer); err != nil {
		return nil, 0, err
	}
	if err := setInfo(ctx, m); err != nil {
		return nil, 0, err
	}
	if err := tagSubsets(ctx); err != nil {
		return nil, 0, err
	}
	var out bytes.Buffer
	out.Grow(len(raw) + len(raw)/8 + 16<<10)
	if err := api.WriteContext(ctx, &out); err != nil {
		return nil, 0, fmt.Errorf("pdfa: write: %w", err)
	}
	b, err := canonicalOrder(out.Bytes())
	if err != nil {
		return nil, 0, err
	}
	if err := patchInfoDates(b, pdfDate(m.Created)); err != nil {
		return nil, 0, err
	}
	return b, ctx.PageCount, nil
}
