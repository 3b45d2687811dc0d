package export

import (
	"unicode/utf8"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// maxColumns bounds a section's table: with gridUnits split over the columns and a
// minimum of minColumnUnits each, more would not fit on an A4 page readably.
const maxColumns = gridUnits / minColumnUnits

// validate checks what Render relies on, so that a bad Summary is rejected with
// the field at fault instead of producing a wrong document. The checks that guard
// the patient's selection (PGOK-FR041/FR042) are: a category is either selected
// or not, never both, and documents are only listed when that category is selected.
func validate(in Input) error {
	if !in.Conformance.Valid() {
		return pgo.Errorf(pgo.EINVALID, "Conformance: unknown level %d", int(in.Conformance))
	}
	if in.GeneratedAt.IsZero() {
		return pgo.Errorf(pgo.EINVALID, "GeneratedAt: is zero")
	}
	if y := in.GeneratedAt.Year(); y < 1000 || y > 9999 {
		return pgo.Errorf(pgo.EINVALID, "GeneratedAt: year %d is outside 1000-9999", y)
	}
	if in.Source == "" {
		return pgo.Errorf(pgo.EINVALID, "Source: the source PGO's name is empty")
	}
	if err := validText("Source", in.Source); err != nil {
		return err
	}
	if err := validatePatient(in.Summary.Patient); err != nil {
		return err
	}
	selected, err := validateSections(in.Summary.Sections)
	if err != nil {
		return err
	}
	if err := validateUnselected(in.Summary.Unselected, selected); err != nil {
		return err
	}
	return validateDocuments(in.Summary)
}

func validatePatient(p dossier.Patient) error {
	if p.Name == "" {
		return pgo.Errorf(pgo.EINVALID, "Summary.Patient.Name: is empty")
	}
	for _, f := range []struct{ name, v string }{
		{"Summary.Patient.Name", p.Name}, {"Summary.Patient.BirthDate", p.BirthDate},
		{"Summary.Patient.Gender", p.Gender}, {"Summary.Patient.BSN", p.BSN},
	} {
		if err := validText(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func validateSections(secs []dossier.Section) (map[dossier.Category]bool, error) {
	selected := map[dossier.Category]bool{}
	for i, sec := range secs {
		if _, ok := categoryLabel(sec.Category); !ok {
			return nil, pgo.Errorf(pgo.EINVALID, "Summary.Sections[%d].Category: unknown category %q", i, sec.Category)
		}
		if selected[sec.Category] {
			return nil, pgo.Errorf(pgo.EINVALID, "Summary.Sections[%d].Category: %q appears twice", i, sec.Category)
		}
		selected[sec.Category] = true
		if n := len(sec.Columns); n == 0 || n > maxColumns {
			return nil, pgo.Errorf(pgo.EINVALID, "Summary.Sections[%d].Columns: %d columns, want 1 to %d", i, n, maxColumns)
		}
		for c, col := range sec.Columns {
			if !utf8.ValidString(col) {
				return nil, badText("Summary.Sections[%d].Columns[%d]", i, c)
			}
		}
		for j, it := range sec.Items {
			if len(it.Cells) != len(sec.Columns) {
				// Not it.ID: a resource id can be a BSN, and this message
				// reaches the log; the indexes find the item.
				return nil, pgo.Errorf(pgo.EINVALID, "Summary.Sections[%d].Items[%d]: %d cells for %d columns",
					i, j, len(it.Cells), len(sec.Columns))
			}
			for c, cell := range it.Cells {
				if !utf8.ValidString(cell) {
					return nil, badText("Summary.Sections[%d].Items[%d].Cells[%d]", i, j, c)
				}
			}
		}
	}
	return selected, nil
}

func validateUnselected(unsel []dossier.Category, selected map[dossier.Category]bool) error {
	seen := map[dossier.Category]bool{}
	for i, c := range unsel {
		if _, ok := categoryLabel(c); !ok {
			return pgo.Errorf(pgo.EINVALID, "Summary.Unselected[%d]: unknown category %q", i, c)
		}
		if selected[c] {
			return pgo.Errorf(pgo.EINVALID, "Summary.Unselected[%d]: %q is also a selected section", i, c)
		}
		if seen[c] {
			return pgo.Errorf(pgo.EINVALID, "Summary.Unselected[%d]: %q appears twice", i, c)
		}
		seen[c] = true
	}
	return nil
}

func validateDocuments(s dossier.Summary) error {
	for _, c := range s.Unselected {
		if c == dossier.CatDocuments && len(s.Documents) > 0 {
			return pgo.Errorf(pgo.EINVALID, "Summary.Documents: %d documents given but category %q is not selected",
				len(s.Documents), dossier.CatDocuments)
		}
	}
	for i, d := range s.Documents {
		if !utf8.ValidString(d.Title) {
			return badText("Summary.Documents[%d].Title", i)
		}
		if !utf8.ValidString(d.ContentType) {
			return badText("Summary.Documents[%d].ContentType", i)
		}
		if d.Size < 0 {
			return pgo.Errorf(pgo.EINVALID, "Summary.Documents[%d].Size: negative (%d)", i, d.Size)
		}
	}
	return nil
}

// badText is the error for a string that is not UTF-8 at the field path format.
func badText(format string, args ...any) error {
	return pgo.Errorf(pgo.EINVALID, format+": not valid UTF-8", args...)
}

// validText rejects strings that are not UTF-8: the text would come out garbled.
func validText(field, s string) error {
	if !utf8.ValidString(s) {
		return pgo.Errorf(pgo.EINVALID, "%s: not valid UTF-8", field)
	}
	return nil
}

// categoryLabel is the Dutch label of c from the category list.
func categoryLabel(c dossier.Category) (string, bool) {
	for _, ci := range dossier.Categories {
		if ci.Key == c {
			return ci.LabelNL, true
		}
	}
	return "", false
}
