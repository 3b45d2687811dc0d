// Package web holds what the browser sees: embedded HTML templates, static assets,
// translations (Dutch first, English second) and the view models the templates
// render. It has no business logic and imports only the standard library.
//
// Adding a page: put templates/pages/NAME.html with {{define "title"}} and
// {{define "content"}} blocks (the layout in templates/layout.html wraps them), add
// its strings to translations/nl.json and translations/en.json, and render it with
// Renderer.Render(w, "NAME", view) where view embeds Page.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"strings"
)

//go:embed templates static translations
var files embed.FS

// Static returns the static assets (served under /static/).
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Renderer executes the page templates. It is safe for concurrent use.
type Renderer struct {
	pages map[string]*template.Template
}

// NewRenderer parses the layout and every page once. An error here is a bug in a
// template, caught by the tests.
func NewRenderer() (*Renderer, error) {
	// The layout and the partials (blocks several pages use) are in every page.
	base, err := template.New("layout.html").ParseFS(files, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", n, err)
		}
		r.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return r, nil
}

// Pages lists the page names the renderer knows.
func (r *Renderer) Pages() []string {
	out := make([]string, 0, len(r.pages))
	for n := range r.pages {
		out = append(out, n)
	}
	return out
}

// Render writes page with view. The page is rendered into a buffer first, so a
// template error never leaves half a page on the wire.
func (r *Renderer) Render(w io.Writer, page string, view any) error {
	t, ok := r.pages[page]
	if !ok {
		return fmt.Errorf("web: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", view); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
