package web

import "strings"

// ConsentView is the consent screen "Toestemming geven" (MedMij afsprakenstelsel,
// Toestemmingsverklaring; PGOK-FR011..FR013): who asks for what, the parts of the
// dossier to choose from, a preview, and two equal buttons. Params are the
// authorization request's parameters, carried as hidden fields of the one form.
type ConsentView struct {
	Page
	CSRF           string
	Provider       string // our name (the PGO the data is in)
	Client         string // the receiving PGO's name from the OCL
	Gegevensdienst string // name from the Gegevensdienstnamenlijst
	Minutes        int
	Params         []Hidden
	Categories     []ConsentCategory
	Preview        []PreviewSection
	Error          string // translation key, "" when none
	ErrorArgs      []any  // the values the Error's text takes (items and maximum of too_large)
	// OverMax says that the parts offered hold more items together (Items) than
	// one document may (MaxItems, PGO_EXPORT_MAX_ITEMS): the screen warns before
	// the patient submits a choice that would be refused.
	OverMax         bool
	Items, MaxItems int
}

// ErrorText is the Error in the page's language, with its values; a number among
// them is a count and is written in the page's language (Number).
func (v ConsentView) ErrorText() string {
	args := make([]any, len(v.ErrorArgs))
	for i, a := range v.ErrorArgs {
		if n, ok := a.(int); ok {
			a = v.N(n)
		}
		args[i] = a
	}
	return v.T(v.Error, args...)
}

// Describedby lists the ids of the texts that describe the choice of parts (the
// fieldset's aria-describedby): the warning over the maximum and the error, ""
// when neither is shown.
func (v ConsentView) Describedby() string {
	var ids []string
	if v.OverMax {
		ids = append(ids, "categories-limit")
	}
	if v.Error != "" {
		ids = append(ids, "categories-error")
	}
	return strings.Join(ids, " ")
}

// Hidden is one hidden form field.
type Hidden struct{ Name, Value string }

// ConsentCategory is one selectable part of the dossier.
type ConsentCategory struct {
	Key     string
	Label   string
	Count   int
	Checked bool
	// TooLarge says that this part alone holds more items than one document
	// may (MaxItems): the warning names it, as no choice with it can pass.
	TooLarge bool
}

// PreviewSection lists the first items of one category that would be sent:
// Rows holds at most dossier.PreviewRows of its Count items.
type PreviewSection struct {
	Key     string
	Label   string
	Columns []string
	Rows    [][]string
	Count   int // the category's items, all of which go into the document
}

// Cut reports whether the preview shows fewer rows than the category holds.
func (s PreviewSection) Cut() bool { return len(s.Rows) < s.Count }

// Summary is the form's error summary.
func (v ConsentView) Summary() ErrorSummary {
	if v.Error == "" {
		return ErrorSummary{}
	}
	field := ""
	if len(v.Categories) > 0 {
		field = "cat-" + v.Categories[0].Key
	}
	return summary(v.Page, []FieldError{{Field: field, Text: v.ErrorText()}})
}

// GrantsView is "Mijn toestemmingen": every consent with its state.
type GrantsView struct {
	Page
	CSRF   string
	Info   string // translation key of a notice, "" when none
	Grants []GrantRow
}

// GrantRow is one consent on the list.
type GrantRow struct {
	ID         string
	Client     string
	Categories string // labels, comma separated
	Pages      int    // page count of the PDF once rendered, else 0
	Time       string // display time
	TimeISO    string
	State      string // active, used, expired, withdrawn, refused, revoked
	Active     bool
}

// StateLabel is a grant state in words.
func (v GrantsView) StateLabel(s string) string { return v.T("consent.state." + s) }
