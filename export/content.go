package export

import (
	"strings"
	"unicode/utf8"

	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// cover writes the first page: who the dossier is about, where it comes from,
// when it was made, and what the patient selected and did not select
// (PGOK-FR041/FR042: the receiver must see that the dossier is a selection).
func (d *doc) cover() {
	s, p := d.in.Summary, d.in.Summary.Patient
	d.s.start(d.para("Persoonlijk gezondheidsdossier", sizeTitle, fontstyle.Bold, 0))
	d.s.add(d.para("Overdracht van gegevens via het MedMij PGO-koppelvlak", sizeBody+1, fontstyle.Normal, 2))
	d.s.add(d.para("Patiënt", sizeHeading-2, fontstyle.Bold, 8))
	d.s.add(d.pair("Naam", p.Name))
	d.s.add(d.pair("Geboortedatum", orUnknown(dutchPartialDate(p.BirthDate))))
	d.s.add(d.pair("Geslacht", orUnknown(p.Gender)))
	d.s.add(d.pair("BSN", orUnknown(fhir.MaskBSN(p.BSN))))
	if p.Aliases != "" {
		d.s.add(d.pair("Naam in de bronnen", p.Aliases))
	}
	d.s.add(d.para("Herkomst", sizeHeading-2, fontstyle.Bold, 6))
	d.s.add(d.pair("Bron-PGO", d.in.Source))
	d.s.add(d.pair("Gemaakt op", dutchDateTime(d.in.GeneratedAt)+" (Nederlandse tijd)"))
	d.s.add(d.pair("Formaat", d.in.Conformance.String()))

	d.s.add(d.para("Geselecteerde gegevens", sizeHeading-2, fontstyle.Bold, 6))
	if len(s.Sections) == 0 {
		d.s.add(d.para("Er zijn geen categorieën geselecteerd.", sizeBody, fontstyle.Normal, 1.5))
	}
	for _, sec := range s.Sections {
		if len(sec.Items) == 0 {
			d.s.add(d.pair(label(sec.Category), "geen gegevens in deze categorie"))
			continue
		}
		d.s.add(d.pair(label(sec.Category), itemsWord(len(sec.Items))))
	}
	if len(s.Documents) > 0 {
		d.s.add(d.pair("Opgeslagen documenten", itemsWord(len(s.Documents))+", opgesomd aan het einde"))
	}

	d.s.add(d.para("Niet geselecteerd", sizeHeading-2, fontstyle.Bold, 6))
	if len(s.Unselected) == 0 {
		d.s.add(d.para("Alle categorieën met gegevens zijn geselecteerd.", sizeBody, fontstyle.Normal, 1.5))
	}
	for _, c := range s.Unselected {
		d.s.add(d.pair(label(c), "niet opgenomen in dit document"))
	}
	d.s.add(d.para("Dit document bevat alleen de gegevens die de patiënt zelf heeft gekozen om over te dragen. "+
		"Het is opgemaakt als "+d.in.Conformance.String()+" (ISO 19005) voor langdurige bewaring.",
		sizeBody-1, fontstyle.Normal, 8))
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "onbekend"
	}
	return s
}

// section writes one category: a heading and a table whose header row is repeated
// on every page the table continues on. A section starts on the page where the
// previous one ended when its heading, header and first item fit there. An empty
// category gets no section: the cover page lists it as a line.
func (d *doc) section(n int, sec dossier.Section) error {
	if len(sec.Items) == 0 {
		return nil
	}
	heading := d.para(label(sec.Category)+" ("+itemsWord(len(sec.Items))+")", sizeHeading, fontstyle.Bold, 6)
	units := columnUnits(sec)
	header := d.tableRow(sec.Columns, units, true)
	for i := range sec.Items {
		it := sec.Items[i]
		m := d.proof.item(n, i, &sec.Items[i])
		rows := d.itemBlock(it, units)
		m.end = len(d.proof.pieces)
		if i == 0 {
			d.s.keep(append([]core.Row{heading, spacer(3), header}, rows...))
		} else {
			d.s.keep(rows, header)
		}
		if err := d.progress(); err != nil {
			return err
		}
	}
	return nil
}

// itemBlock is an item's table rows followed by one row per extra field (what
// its resource holds that no column shows: label and value).
func (d *doc) itemBlock(it dossier.Item, units []int) []core.Row {
	var rows []core.Row
	for _, cells := range itemRows(it.Cells, units) {
		rows = append(rows, d.tableRow(cells, units, false))
	}
	for _, f := range it.Extra {
		for i, part := range chunk(f.Value, cellRunes(extraValueUnits)) {
			l := f.Label
			if i > 0 {
				l = ""
			}
			rows = append(rows, d.extraRow(l, part))
		}
	}
	return rows
}

// documents writes the closing list of stored documents (DocumentReference
// metadata; the documents themselves travel as their own Binary resources).
func (d *doc) documents() {
	docs := d.in.Summary.Documents
	if len(docs) == 0 {
		return
	}
	heading := d.para("Opgeslagen documenten ("+itemsWord(len(docs))+")", sizeHeading, fontstyle.Bold, 6)
	sec := dossier.Section{Columns: []string{"Titel", "Soort", "Grootte", "Datum"}}
	for _, doc := range docs {
		date := "onbekend"
		if !doc.Created.IsZero() {
			date = dutchDate(doc.Created)
		}
		sec.Items = append(sec.Items, dossier.Item{Cells: []string{doc.Title, doc.ContentType, humanSize(doc.Size), date}})
	}
	units := columnUnits(sec)
	header := d.tableRow(sec.Columns, units, true)
	for i, it := range sec.Items {
		rows := d.itemBlock(it, units)
		if i == 0 {
			d.s.keep(append([]core.Row{heading, spacer(3), header}, rows...))
		} else {
			d.s.keep(rows, header)
		}
	}
}

// chunk splits s into pieces of at most n runes, at a space where there is one.
func chunk(s string, n int) []string {
	if utf8.RuneCountInString(s) <= n {
		return []string{s}
	}
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		out = append(out, string(r[:cut]))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}

// columnUnits shares the grid among a section's columns in proportion to the
// length of their texts (header and the first 200 items, so it is deterministic
// and cheap), with a minimum width per column.
func columnUnits(sec dossier.Section) []int {
	n := len(sec.Columns)
	weights := make([]int, n)
	for i, c := range sec.Columns {
		weights[i] = utf8.RuneCountInString(c)
	}
	sample := sec.Items[:min(len(sec.Items), 200)]
	for i := range weights {
		total := 0
		for _, it := range sample {
			total += utf8.RuneCountInString(it.Cells[i])
		}
		if len(sample) > 0 {
			weights[i] = max(weights[i], total/len(sample))
		}
		weights[i] = min(max(weights[i], 4), 60)
	}
	sum := 0
	for _, w := range weights {
		sum += w
	}
	units := make([]int, n)
	left := gridUnits - n*minColumnUnits
	used := 0
	widest := 0
	for i, w := range weights {
		units[i] = minColumnUnits + left*w/sum
		used += units[i]
		if w > weights[widest] {
			widest = i
		}
	}
	units[widest] += gridUnits - used
	return units
}
