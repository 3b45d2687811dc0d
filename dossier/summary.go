package dossier

import "time"

// Category is a part of the dossier a patient can choose to share on the consent
// screen (PGOK-FR041/FR042) and that the PDF/A export renders as one section.
type Category string

// The categories, in the order the consent screen and the PDF show them.
const (
	CatPatient      Category = "patient"       // Persoonsgegevens
	CatProblems     Category = "problems"      // Problemen
	CatAllergies    Category = "allergies"     // Allergieën
	CatMedication   Category = "medication"    // Medicatie
	CatResults      Category = "results"       // Uitslagen (labs and vital signs)
	CatImmunization Category = "immunizations" // Vaccinaties
	CatProcedures   Category = "procedures"    // Verrichtingen
	CatEncounters   Category = "encounters"    // Contacten
	CatDocuments    Category = "documents"     // Documenten
	CatOther        Category = "other"         // Overig: resource types we keep but do not classify
)

// CategoryInfo is a category with its labels.
type CategoryInfo struct {
	Key     Category
	LabelNL string
	LabelEN string
}

// Categories lists every category in display order.
var Categories = []CategoryInfo{
	{CatPatient, "Persoonsgegevens", "Personal details"},
	{CatProblems, "Problemen", "Problems"},
	{CatAllergies, "Allergieën", "Allergies"},
	{CatMedication, "Medicatie", "Medication"},
	{CatResults, "Uitslagen", "Results"},
	{CatImmunization, "Vaccinaties", "Vaccinations"},
	{CatProcedures, "Verrichtingen", "Procedures"},
	{CatEncounters, "Contacten", "Encounters"},
	{CatDocuments, "Documenten", "Documents"},
	{CatOther, "Overig", "Other"},
}

// Summary is a dossier reduced to what a person reads: what the consent screen
// counts and what the PDF/A export renders. It is the contract between the dossier
// package (which builds it from FHIR resources) and the export package (which
// renders it); neither needs to know the other's internals.
type Summary struct {
	Patient    Patient
	Sections   []Section  // selected categories with their items, in Categories order
	Unselected []Category // categories that exist but were not selected
	Documents  []Document // stored documents (listed at the end of the PDF when selected)
}

// Patient holds the identifying details shown on the cover page.
type Patient struct {
	Name      string
	BirthDate string // as given, YYYY-MM-DD (or partial)
	Gender    string // Dutch display
	BSN       string // display form: masked (never the full number, PGOK-FR042), or "afgeschermd"
	// Aliases are the other names the sources give the patient (the displays of
	// the references to them, "; " between them), shown once on the cover page
	// instead of on every item. A string keeps Patient comparable.
	Aliases string
}

// Section is one category: a table with column headings and one row per item.
type Section struct {
	Category Category
	Columns  []string // Dutch column headings
	Items    []Item
}

// Item is one row: a stable id (resource type/id) and its cells, one per column.
// Long cells wrap in the PDF; nothing is truncated.
type Item struct {
	ID    string
	Cells []string
	// Extra holds what the item's resource says that no column shows (the generic
	// fallback: label and value), shown under its row.
	Extra []Field
	// Texts are the human-readable strings of the resource (displays, texts,
	// comments, notes, descriptions, string values, also inside extensions): the
	// export proves that each one is in the rendered document.
	Texts []string
}

// Document is a stored document listed at the end of the export.
type Document struct {
	Title       string
	ContentType string
	Size        int64
	Created     time.Time
}
