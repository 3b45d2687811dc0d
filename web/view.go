package web

import (
	"net/url"
	"strings"
)

// Page is what every page's view model embeds: the layout reads its fields, and
// templates translate with {{.T "key"}}.
type Page struct {
	Lang         Lang
	InstanceName string // display name of this PGO, e.g. "PGO Noord"
	Title        string // page title (already translated); empty: the app name
	RequestID    string // shown on error pages so a user can quote it
	// Path is the request's path and query ("/audit?from=..."): the language
	// switch links to it in the other language, and the header marks the link to
	// it as the current page. Empty: the start page.
	Path string
	// Nav is what the header shows for the request's session.
	Nav Nav
}

// Nav is the session-dependent part of the header: who is logged in decides the
// links, and the logout button is a POST form carrying the session's CSRF token.
type Nav struct {
	LoggedIn bool
	Role     string // "patient" or "auditor" when LoggedIn
	CSRF     string // the logout form's token when LoggedIn
	// Dossier, Transfer and Grants say that "Mijn dossier", "Dossier ophalen"
	// and "Mijn toestemmingen" are mounted, so the menu and home page offer them
	// (they offer only what works: without PGO_PROVIDER_NAME there are no grants).
	Dossier, Transfer, Grants bool
}

// LangLink is one entry of the language switch.
type LangLink struct {
	Lang Lang
	Href string
}

// LangLinks lists the other languages, each linking to the current page (same
// path and query) with ?lang= set, so switching never loses the user's place.
func (p Page) LangLinks() []LangLink {
	var out []LangLink
	for _, l := range p.OtherLangs() {
		out = append(out, LangLink{Lang: l, Href: withLang(p.Path, l)})
	}
	return out
}

func withLang(path string, l Lang) string {
	u, err := url.Parse(path)
	// "///host/x" parses with no host but a browser reads it as a link to host
	if err != nil || path == "" || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("lang", string(l))
	u.RawQuery = q.Encode()
	return u.String()
}

// Current returns "page" when path is the page being shown (for aria-current,
// WCAG 2.2 SC 1.3.1), else "".
func (p Page) Current(path string) string {
	cur := p.Path
	if i := strings.IndexByte(cur, '?'); i >= 0 {
		cur = cur[:i]
	}
	if cur == "" {
		cur = "/"
	}
	if cur == path {
		return "page"
	}
	return ""
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

// HomeView is the start page. The page reads Page.Nav for the logged-in
// user's next step.
type HomeView struct {
	Page
}
