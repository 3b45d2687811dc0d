package export

import (
	"fmt"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/col"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/components/text"
	"github.com/johnfercher/maroto/v2/pkg/config"
	"github.com/johnfercher/maroto/v2/pkg/consts/border"
	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/consts/pagesize"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/props"
	"github.com/phpdave11/gofpdf"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

// Page geometry (A4, millimetres) and type sizes (points).
const (
	marginSide   = 15.0
	marginTop    = 15.0
	marginBottom = 18.0 // room for the "pagina X van Y" line below the content area
	contentWidth = 210.0 - 2*marginSide

	gridUnits      = 120 // maroto grid: columns are sized in 1/120 of the content width
	minColumnUnits = 8

	sizeBody    = 9.0
	sizeTable   = 8.0
	sizeHeading = 14.0
	sizeTitle   = 18.0
	cellPad     = 1.0

	// maxCellRunes bounds the text of one table row per cell; longer texts go on
	// continuation rows, so that no row is taller than a page (maroto would let
	// it run off the page) and a table header can precede every continuation.
	// cellRunes lowers it for narrow columns to about maxCellLines lines.
	maxCellRunes = 1200
	maxCellLines = 25
)

var (
	headerFill = &props.Color{Red: 225, Green: 229, Blue: 235}
	ruleColor  = &props.Color{Red: 170, Green: 170, Blue: 170}
)

func init() {
	// gofpdf writes its font and image catalogs in map order unless told to sort
	// them; sorted, the same input gives the same bytes (a process-wide default,
	// which only makes other gofpdf users deterministic too).
	gofpdf.SetDefaultCatalogSort(true)
}

// doc is one rendering in progress.
type doc struct {
	in    Input
	g     *glyphs
	s     *sheet
	proof *proofLog
	done  int
	total int
	step  int
}

// layout builds the maroto document for in and returns maroto's (non-PDF/A) bytes
// and the log of what it wrote, for the completeness proof.
func layout(in Input, g *glyphs) ([]byte, *proofLog, error) {
	// The footer says on every page whose dossier it is and where it came from
	// (the cover page's name and source); long names are shortened there so the
	// line stays inside the bottom margin.
	footer := "Dossier van " + shorten(g.clean(in.Summary.Patient.Name), 50)
	if bd := in.Summary.Patient.BirthDate; bd != "" {
		footer += " · geboren " + g.clean(dutchPartialDate(bd))
	}
	footer += " · bron " + shorten(g.clean(in.Source), 40)
	cfg := config.NewBuilder().
		WithPageSize(pagesize.A4).
		WithLeftMargin(marginSide).WithRightMargin(marginSide).
		WithTopMargin(marginTop).WithBottomMargin(marginBottom).
		WithMaxGridSize(gridUnits).
		WithCustomFonts(customFonts()).
		WithDefaultFont(&props.Font{Family: fontFamily, Size: sizeBody}).
		WithPageNumber(props.PageNumber{Pattern: footer + " · pagina {current} van {total}",
			Place: props.Bottom, Family: fontFamily, Size: 7}).
		WithCreationDate(in.GeneratedAt).
		// pages uncompressed: pdfa.Convert compresses them with pooled compressors
		// (gofpdf makes a new ~1 MB one per page)
		WithCompression(false).
		Build()
	m := maroto.New(cfg)
	d := &doc{in: in, g: g, s: &sheet{m: m, cfg: cfg}, proof: &proofLog{g: g}, total: countItems(in.Summary)}
	d.step = max(1, d.total/100)

	d.cover()
	d.proof.coverEnd = len(d.proof.pieces)
	for i, sec := range in.Summary.Sections {
		if err := d.section(i, sec); err != nil {
			return nil, nil, err
		}
	}
	d.documents()

	out, err := m.Generate()
	if err != nil {
		return nil, nil, fmt.Errorf("maroto generate: %w", err)
	}
	return out.GetBytes(), d.proof, nil
}

// para is a full-width text row.
func (d *doc) para(s string, size float64, style fontstyle.Type, top float64) core.Row {
	s = d.g.clean(s)
	d.proof.wrote(s)
	return row.New().Add(col.New(gridUnits).Add(text.New(s,
		props.Text{Family: fontFamily, Size: size, Style: style, Top: top})))
}

// pair is a label/value row of the cover page.
func (d *doc) pair(label, value string) core.Row {
	label, value = d.g.clean(label), d.wrap(value, sizeBody, contentWidth*84/gridUnits)
	d.proof.wrote(label)
	d.proof.wrote(value)
	return row.New().Add(
		col.New(36).Add(text.New(label, props.Text{Size: sizeBody, Style: fontstyle.Bold, Top: 1.5})),
		col.New(gridUnits-36).Add(text.New(value, props.Text{Size: sizeBody, Top: 1.5})),
	)
}

// wrap cleans s and breaks words too wide for a column of width mm.
func (d *doc) wrap(s string, size, width float64) string {
	return d.g.breakLongWords(d.g.clean(s), size, width-2*cellPad)
}

// extraValueUnits is the width of an extra field's value; an indent and the
// label take the rest of the grid.
const (
	extraIndentUnits = 4
	extraLabelUnits  = 26
	extraValueUnits  = gridUnits - extraIndentUnits - extraLabelUnits
)

// extraRow is one field of an item that no column shows, indented under the
// item's row: its label in bold, then the value.
func (d *doc) extraRow(label, value string) core.Row {
	lw := contentWidth * extraLabelUnits / gridUnits
	vw := contentWidth * extraValueUnits / gridUnits
	p := props.Text{Size: sizeTable, Left: cellPad, Right: cellPad, Top: 0.5, Bottom: 0.5}
	bold := p
	bold.Style = fontstyle.Bold
	label, value = d.wrap(label, sizeTable, lw), d.wrap(value, sizeTable, vw)
	d.proof.wrote(label)
	d.proof.wrote(value)
	return row.New().Add(
		col.New(extraIndentUnits),
		col.New(extraLabelUnits).Add(text.New(label, bold)),
		col.New(extraValueUnits).Add(text.New(value, p)),
	)
}

// tableRow is one row of a section table; header rows are bold on a tinted band.
func (d *doc) tableRow(cells []string, units []int, header bool) core.Row {
	cols := make([]core.Col, len(cells))
	style := fontstyle.Normal
	if header {
		style = fontstyle.Bold
	}
	for i, c := range cells {
		w := contentWidth * float64(units[i]) / gridUnits
		c = d.wrap(c, sizeTable, w)
		d.proof.wrote(c)
		cols[i] = col.New(units[i]).Add(text.New(c, props.Text{
			Size: sizeTable, Style: style, Left: cellPad, Right: cellPad, Top: cellPad, Bottom: cellPad}))
	}
	r := row.New().Add(cols...)
	if header {
		return r.WithStyle(&props.Cell{BackgroundColor: headerFill})
	}
	return r.WithStyle(&props.Cell{BorderType: border.Bottom, BorderColor: ruleColor, BorderThickness: 0.1})
}

// cellRunes is how many characters of a cell go in one row of a column of the
// given grid units: about maxCellLines lines at an average glyph width of 0.6 em,
// which keeps every row well below the ~70 lines a page holds.
func cellRunes(units int) int {
	width := contentWidth*float64(units)/gridUnits - 2*cellPad
	perLine := int(width / (0.6 * sizeTable * mmPerPt))
	return min(maxCellRunes, max(1, perLine)*maxCellLines)
}

// itemRows splits an item into rows of at most cellRunes per cell; the first
// row holds the start of every cell, continuation rows the rest.
func itemRows(cells []string, units []int) [][]string {
	parts := make([][]string, len(cells))
	n := 1
	for i, c := range cells {
		parts[i] = chunk(c, cellRunes(units[i]))
		n = max(n, len(parts[i]))
	}
	rows := make([][]string, n)
	for r := range rows {
		rows[r] = make([]string, len(cells))
		for i := range cells {
			if r < len(parts[i]) {
				rows[r][i] = parts[i][r]
			}
		}
	}
	return rows
}

// progress reports one more item laid out; the final (total, total) is reported
// by Render once the PDF/A file is complete.
func (d *doc) progress() error {
	d.done++
	if d.in.Progress == nil || d.done == d.total || d.done%d.step != 0 {
		return nil
	}
	if err := d.in.Progress(d.done, d.total); err != nil {
		return &stopError{err}
	}
	return nil
}

// label is the Dutch label of a category (validate has checked it exists).
func label(c dossier.Category) string {
	l, _ := categoryLabel(c)
	return l
}

func itemsWord(n int) string {
	if n == 1 {
		return "1 item"
	}
	return fmt.Sprintf("%d items", n)
}

// spacer is an empty full-width row of height mm.
func spacer(h float64) core.Row {
	return row.New(h).Add(col.New(gridUnits))
}

// shorten cuts s to n runes, marking the cut with "...".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}
