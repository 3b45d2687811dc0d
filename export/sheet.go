package export

import (
	"slices"

	"github.com/johnfercher/maroto/v2"
	"github.com/johnfercher/maroto/v2/pkg/components/page"
	"github.com/johnfercher/maroto/v2/pkg/components/row"
	"github.com/johnfercher/maroto/v2/pkg/core"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
)

// sheet adds rows to a maroto document while knowing where page breaks fall, so
// that a table's header row can be repeated at the top of every page the table
// continues on (maroto's own header is one per document, not per table).
//
// It mirrors maroto's pagination rule (Maroto.addRow in v2.3.3: a row goes on the
// current page when its height plus the heights already there fit the content
// area, otherwise on a new page) using the same row heights, which it gets from a
// maroto provider built from the same configuration: a probe row added to a
// throwaway maroto document records that provider and the page cell it measures
// with. Measuring sets fonts, and gofpdf writes every font change into its open
// page: on the real document that put one "BT /F.. Tf ET" per measured row into
// the first page (7.5 MB of content for a large dossier). Rows cache their
// height, so maroto does not measure them again on the real provider.
type sheet struct {
	m    core.Maroto
	cfg  *entity.Config
	prov core.Provider
	cell *entity.Cell
	cur  float64 // height used on the current page
}

// probe is a row that records the provider and cell maroto measures it with.
type probe struct {
	core.Row
	s *sheet
}

func (p probe) GetHeight(prov core.Provider, cell *entity.Cell) float64 {
	if p.s.prov == nil {
		p.s.prov, p.s.cell = prov, cell
	}
	return p.Row.GetHeight(prov, cell)
}

// start adds the first row, after a probe on a throwaway document has taught the
// sheet maroto's measurements.
func (s *sheet) start(r core.Row) {
	maroto.New(s.cfg).AddRows(probe{Row: row.New(1), s: s})
	s.cur = s.height(r)
	s.m.AddRows(r)
}

// height is r's height as maroto computes it (rows cache their height).
func (s *sheet) height(r core.Row) float64 {
	r.SetConfig(s.cfg)
	return r.GetHeight(s.prov, s.cell)
}

// fits reports whether a row of height h still fits on the current page.
func (s *sheet) fits(h float64) bool { return h+s.cur <= s.cell.Height }

// add puts r on the current page, or on a new page that starts with repeat (the
// table header) when r does not fit.
func (s *sheet) add(r core.Row, repeat ...core.Row) {
	if h := s.height(r); s.fits(h) {
		s.m.AddRows(r)
		s.cur += h
		return
	}
	s.newPage(append(repeat, r)...)
}

// newPage starts a new page holding rows.
func (s *sheet) newPage(rows ...core.Row) {
	s.m.AddPages(page.New().Add(rows...))
	s.cur = 0
	for _, r := range rows {
		s.cur += s.height(r)
	}
}

// keep puts rows on the current page when they all fit there, else on a new page
// that starts with repeat, so that an item's row and the lines under it stay
// together. A group taller than a page is added row by row.
func (s *sheet) keep(rows []core.Row, repeat ...core.Row) {
	total := 0.0
	for _, r := range rows {
		total += s.height(r)
	}
	if s.fits(total) {
		s.m.AddRows(rows...)
		s.cur += total
		return
	}
	head := 0.0
	for _, r := range repeat {
		head += s.height(r)
	}
	if total+head <= s.cell.Height {
		s.newPage(append(slices.Clone(repeat), rows...)...)
		return
	}
	for _, r := range rows {
		s.add(r, repeat...)
	}
}
