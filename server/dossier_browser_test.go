package server

import (
	"net/http"
	"testing"

	"github.com/pgo-koppelvlak/pgo/web"
)

// "Mijn dossier" with MedMij's test patient and empty, in Dutch and English, with
// JavaScript off, passes axe-core's WCAG 2.2 A/AA rules; every scrolling table
// region is reachable by keyboard, and the page does not overflow at 1280 px.
func TestUIDossierPagesAccessible(t *testing.T) {
	f := newDossierFixture(t)
	u := newUIRun(t, f.e)
	for _, l := range web.Langs {
		u.as(f.anna)
		u.page("dossier", "/mijn-dossier", http.StatusOK, l)
		if n := u.eval(`String(document.querySelectorAll(".table-scroll:not([tabindex='0'])").length)`); n != "0" {
			t.Errorf("%s: %s table regions not focusable", l, n)
		}
		if got := u.eval(`String(document.documentElement.scrollWidth <= innerWidth)`); got != "true" {
			t.Errorf("%s: the page scrolls sideways", l)
		}
		if got := u.eval(`document.querySelector("a[href='/mijn-dossier/pdf']").textContent`); got != web.T(l, "dossier.download.button") {
			t.Errorf("%s: download link %q", l, got)
		}
		u.page("home-patient-dossier", "/", http.StatusOK, l)
		if got := u.eval(`String(document.querySelectorAll("main a[href='/mijn-dossier'], nav a[href='/mijn-dossier']").length)`); got != "2" {
			t.Errorf("%s: %s links to Mijn dossier on the home page and menu; want 2", l, got)
		}
		u.as(f.bram)
		u.page("dossier-empty", "/mijn-dossier", http.StatusOK, l)
		u.page("dossier-empty-pdf", "/mijn-dossier/pdf", http.StatusNotFound, l)
	}
}
