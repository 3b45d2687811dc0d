package export

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// Proof is the completeness proof of one rendering (PGOK-FR022, "dat mijn
// gegevens volledig en correct worden overgezet"): while laying out, the export
// notes every string it writes and, per item, every human-readable string of the
// item's resource (dossier.Item.Texts); once the PDF/A file exists, it extracts
// the file's text and looks each of them up. Items is the number of items laid
// out, Strings the number of strings checked, Missing how many were not found. A
// rendering with Missing > 0 is not handed out: Render fails with EINTERNAL.
type Proof struct {
	Items   int
	Strings int
	Missing int
}

// proofLog is what the layout notes for the proof. Noting costs an append; all
// processing happens in verify, so that the proof's cost is measured as one.
type proofLog struct {
	g        *glyphs
	pieces   []string // every string written, in layout order
	coverEnd int      // pieces[:coverEnd] are the cover page
	items    []itemMark
}

// itemMark ties an item to the pieces that show it.
type itemMark struct {
	section, index int
	first, end     int // pieces[first:end] show the item
	item           *dossier.Item
}

// wrote notes a string written to the page (already cleaned for the font).
func (p *proofLog) wrote(s string) {
	if s != "" {
		p.pieces = append(p.pieces, s)
	}
}

// item notes an item whose rows are laid out next.
func (p *proofLog) item(section, index int, it *dossier.Item) *itemMark {
	p.items = append(p.items, itemMark{section: section, index: index, first: len(p.pieces), item: it})
	return &p.items[len(p.items)-1]
}

// whole is an item's cells and extra values, unsplit, as the font shows them,
// white space removed.
func (p *proofLog) whole(it *dossier.Item) []string {
	out := make([]string, 0, len(it.Cells)+len(it.Extra))
	for _, c := range it.Cells {
		out = append(out, squash(p.g.clean(c)))
	}
	for _, f := range it.Extra {
		out = append(out, squash(p.g.clean(f.Value)))
	}
	return out
}

// verify checks the log against the document's text (white space removed).
// Written strings must appear in layout order (so one cannot stand in for another
// far away); an item's resource strings must appear in the text that its own rows
// produced, or on the cover page (the patient's names). A resource string longer
// than a table row holds is written in pieces on continuation rows; it counts as
// found when it lies within one of the item's cells or extra values, all of whose
// pieces were found.
func (p *proofLog) verify(flat []byte) (Proof, *itemMark) {
	start := make([]int, len(p.pieces))
	end := make([]int, len(p.pieces))
	found := make([]bool, len(p.pieces))
	res := Proof{Items: len(p.items), Strings: len(p.pieces)}
	var first *itemMark
	var scratch []byte
	cursor := 0
	for i, s := range p.pieces {
		scratch = squashTo(scratch[:0], s)
		j := bytes.Index(flat[cursor:], scratch)
		if j < 0 {
			res.Missing++
			continue
		}
		start[i], end[i], found[i] = cursor+j, cursor+j+len(scratch), true
		cursor = end[i]
	}
	cover := span(flat, start, end, found, 0, p.coverEnd)
	for k := range p.items {
		m := &p.items[k]
		own := span(flat, start, end, found, m.first, m.end)
		whole := allFound(found, m.first, m.end)
		var parts []string
		for _, t := range m.item.Texts {
			res.Strings++
			scratch = squashTo(scratch[:0], p.g.clean(t))
			if bytes.Contains(own, scratch) || bytes.Contains(cover, scratch) {
				continue
			}
			if whole && parts == nil {
				parts = p.whole(m.item)
			}
			if whole && within(parts, string(scratch)) {
				continue
			}
			res.Missing++
			if first == nil {
				first = m
			}
		}
		if first == nil && !whole {
			first = m
		}
	}
	return res, first
}

// span is the document text from the first found piece of pieces[from:to] to the
// end of the last found one.
func span(flat []byte, start, end []int, found []bool, from, to int) []byte {
	lo, hi := -1, -1
	for i := from; i < to; i++ {
		if found[i] {
			if lo < 0 {
				lo = start[i]
			}
			hi = end[i]
		}
	}
	if lo < 0 {
		return nil
	}
	return flat[lo:hi]
}

func allFound(found []bool, from, to int) bool {
	for i := from; i < to; i++ {
		if !found[i] {
			return false
		}
	}
	return true
}

func within(parts []string, t string) bool {
	for _, p := range parts {
		if strings.Contains(p, t) {
			return true
		}
	}
	return false
}

// check runs the proof on the rendered document; a string that did not make it
// into the file is a bug in the layout, never a property of the data.
func (p *proofLog) check(pdf []byte, in Input) (Proof, error) {
	text, err := extractText(pdf, true)
	if err != nil {
		return Proof{}, pgo.Wrap(pgo.EINTERNAL, err, "het dossier kon niet worden gecontroleerd")
	}
	res, first := p.verify(text)
	if res.Missing == 0 {
		return res, nil
	}
	where := "de omslag of de lijst met documenten"
	if first != nil {
		cat := in.Summary.Sections[first.section].Category
		where = fmt.Sprintf("categorie %s, item %d", cat, first.index+1)
	}
	return res, pgo.Wrap(pgo.EINTERNAL, &IncompleteError{Proof: res, Where: where}, IncompleteMessage)
}

// IncompleteMessage is the caller-safe reason of a rendering that failed its proof.
const IncompleteMessage = "het dossier is niet volledig opgemaakt en wordt niet verstrekt"

// IncompleteError is a rendering that failed its completeness proof: a bug in the
// layout, which retrying does not fix. It names positions, never the missing
// text (that is health data). Render returns it wrapped in a *pgo.Error
// (EINTERNAL); find it with errors.As.
type IncompleteError struct {
	Proof Proof
	Where string // the first item with a missing string, e.g. "categorie problems, item 4"
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("export: completeness proof: %d of %d strings missing from the PDF (first in %s)",
		e.Proof.Missing, e.Proof.Strings, e.Where)
}

// squashTo appends s without its white space to b.
func squashTo(b []byte, s string) []byte {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// squash removes all white space (a line break in the PDF is not a difference).
func squash(s string) string {
	if !strings.ContainsFunc(s, unicode.IsSpace) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
