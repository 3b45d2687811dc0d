package web

// DossierView is "Mijn dossier": the categories that hold data, each with its
// count, column headings and rows. The cells are the dossier as recorded (in
// Dutch); headings are translated (ColumnLabel).
type DossierView struct {
	Page
	Total    int
	Sections []DossierSection
}

// DossierSection is one category of the dossier.
type DossierSection struct {
	Key     string // category key: the section's anchor
	Label   string // in the page's language
	Count   int
	Columns []string // Dutch headings (dossier package)
	Rows    [][]string
}

// ColumnLabel is a Dutch column heading in the page's language: English pages
// look up "dossier.col.<Dutch heading>", Dutch pages show it as it is.
func (v DossierView) ColumnLabel(nl string) string {
	if v.Lang == NL {
		return nl
	}
	if t := v.T("dossier.col." + nl); t != "dossier.col."+nl {
		return t
	}
	return nl
}
