package web

// Page is what every page's view model embeds: the layout reads its fields, and
// templates translate with {{.T "key"}}.
type Page struct {
	Lang         Lang
	InstanceName string // display name of this PGO, e.g. "PGO Noord"
	Title        string // page title (already translated); empty: the app name
	RequestID    string // shown on error pages so a user can quote it
}

// T translates key into the page's language.
func (p Page) T(key string, args ...any) string { return T(p.Lang, key, args...) }

// OtherLangs lists the languages the user can switch to.
func (p Page) OtherLangs() []Lang {
	var out []Lang
	for _, l := range Langs {
		if l != p.Lang {
			out = append(out, l)
		}
	}
	return out
}

// ErrorView is the error page: a translated heading and explanation for the
// status, and the request id.
type ErrorView struct {
	Page
	Status  int
	Code    string // the pgo error code, e.g. "not_found"; selects the text
	Message string // optional caller-safe detail in the page's language; empty: none
}

// Heading returns the translated heading for the error code.
func (v ErrorView) Heading() string { return v.T("error." + v.Code + ".title") }

// Explanation returns the translated explanation for the error code.
func (v ErrorView) Explanation() string { return v.T("error." + v.Code + ".text") }

// HomeView is the start page.
type HomeView struct {
	Page
}
