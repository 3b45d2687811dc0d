package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/web"
)

// "Mijn dossier" (issue 13): the patient's own dossier, every category with its
// count and items, and a download of the whole dossier as the PDF/A a peer PGO
// would receive. Server-rendered, no JavaScript.

// DossierReader is the part of the dossier service these pages use.
type DossierReader interface {
	// Summary returns the dossier of userID reduced to what a person reads, for
	// the selected categories (dossier.Service.Summary).
	Summary(ctx context.Context, userID string, selected []dossier.Category) (dossier.Summary, error)
}

// DossierDeps is what "Mijn dossier" needs.
type DossierDeps struct {
	// Accounts is the account service (login and the patient's name); nil: the
	// pages are not mounted.
	Accounts *account.Service
	Dossier  DossierReader
	// Now is the clock of the PDF's generation time; nil: time.Now.
	Now func() time.Time
}

type dossierPages struct {
	*accountPages
	d DossierDeps
}

// MountDossier registers /mijn-dossier and /mijn-dossier/pdf for patients.
func (s *Server) MountDossier(d DossierDeps) {
	if d.Accounts == nil || d.Dossier == nil {
		return
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &dossierPages{accountPages: &accountPages{Server: s, d: AccountDeps{Service: d.Accounts}}, d: d}
	patient := p.requireLogin(account.RolePatient)
	s.groups.Browser.GET("/mijn-dossier", p.dossierPage, patient)
	s.groups.Browser.GET("/mijn-dossier/pdf", p.dossierPDF, patient)
}

// allCategories is every category: the patient sees the whole dossier.
func allCategories() []dossier.Category {
	out := make([]dossier.Category, len(dossier.Categories))
	for i, c := range dossier.Categories {
		out[i] = c.Key
	}
	return out
}

// dossierPage shows each category that holds data, with its count and items.
func (p *dossierPages) dossierPage(c echo.Context) error {
	cur := p.session(c)
	sum, err := p.d.Dossier.Summary(c.Request().Context(), cur.sess.AccountID, allCategories())
	if err != nil {
		return err
	}
	v := web.DossierView{Page: p.page(c, web.T(lang(c), "dossier.title"))}
	for _, sec := range sum.Sections {
		if len(sec.Items) == 0 {
			continue
		}
		ds := web.DossierSection{Key: string(sec.Category), Label: categoryLabel(v.Lang, sec.Category),
			Columns: sec.Columns, Count: len(sec.Items)}
		for _, it := range sec.Items {
			ds.Rows = append(ds.Rows, it.Cells)
		}
		v.Sections = append(v.Sections, ds)
		v.Total += ds.Count
	}
	return p.render(c, http.StatusOK, "dossier_mine", v)
}

// dossierPDF renders the whole dossier as PDF/A-2b and streams it as a download.
// Headers are set only when the first byte is written, so a failed rendering
// still gets the error page (export.Render writes nothing unless it succeeded).
func (p *dossierPages) dossierPDF(c echo.Context) error {
	ctx := c.Request().Context()
	cur := p.session(c)
	sum, err := p.d.Dossier.Summary(ctx, cur.sess.AccountID, allCategories())
	if err != nil {
		return err
	}
	if countItems(sum) == 0 {
		return errDossierEmpty
	}
	if sum.Patient.Name == "" { // no Patient resource: name the account holder
		if sum.Patient.Name, _, err = p.d.Accounts.Whoami(ctx, cur.sess.AccountID); err != nil {
			return err
		}
	}
	now := p.d.Now()
	w := &lazyHeaders{c: c, name: "mijn-dossier-" + now.In(displayZone).Format(time.DateOnly) + ".pdf"}
	_, err = export.Render(w, export.Input{Summary: sum, Source: p.cfg.InstanceName, GeneratedAt: now})
	return err
}

// errDossierEmpty: there is nothing to put in a PDF yet.
var errDossierEmpty = pgo.NewError(pgo.ENOTFOUND, "dossier.err.empty", "Your dossier is still empty, so there is nothing to download.")

func countItems(s dossier.Summary) int {
	n := 0
	for _, sec := range s.Sections {
		n += len(sec.Items)
	}
	return n
}

// lazyHeaders writes the download's headers before its first byte.
type lazyHeaders struct {
	c       echo.Context
	name    string
	started bool
}

func (w *lazyHeaders) Write(b []byte) (int, error) {
	if !w.started {
		w.started = true
		h := w.c.Response().Header()
		h.Set(echo.HeaderContentType, "application/pdf")
		// RFC 6266 §4.3: an ASCII file name we made ourselves, nothing from the user.
		h.Set(echo.HeaderContentDisposition, `attachment; filename="`+w.name+`"`)
		w.c.Response().WriteHeader(http.StatusOK)
	}
	return w.c.Response().Write(b)
}
