package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/web"
)

// The consent screen of a dossier over the maximum one document may hold (a low
// PGO_EXPORT_MAX_ITEMS here) with a part over dossier.PreviewRows items, in a
// real browser with JavaScript off, in Dutch and English: the warning is shown
// (its heading and text, the part that alone is over the maximum, and it
// describes the allow button), the page is
// axe-clean; the patient opens the cut part's preview (a click on its summary)
// and the table with the cut note under it is shown and axe-clean; allowing
// every part offered gives the screen again (422) with the error, axe-clean.
func TestUIConsentOverMaxAndCutPreview(t *testing.T) {
	c := newConsentUI(t, consentOpts{maxItems: dossier.PreviewRows})
	counts := c.ce.addProblems(t, dossier.PreviewRows+10)
	n := counts[dossier.CatProblems]
	for _, l := range web.Langs {
		c.as(nil)
		c.authorize("state-ui-over-"+string(l), l, http.StatusOK)
		c.login(l)
		if got := c.eval(`(() => { const w = document.querySelector("fieldset #categories-limit");
			return w && w.checkVisibility() ? w.querySelector("h2").textContent : "" })()`); got != web.T(l, "consent.limit.title") {
			t.Errorf("%s: warning heading %q, want %q shown in the choice of parts", l, got, web.T(l, "consent.limit.title"))
		}
		// the problems alone are over the maximum: the warning names them
		alone := web.T(l, "consent.limit.alone", categoryLabel(l, dossier.CatProblems), web.Number(l, n))
		if got := c.eval(`(() => { const p = document.querySelectorAll("#categories-limit p");
			return p.length === 2 && p[1].checkVisibility() ? p[1].textContent : "" })()`); got != alone {
			t.Errorf("%s: the warning's second paragraph %q, want %q shown", l, got, alone)
		}
		if got := c.eval(`document.querySelector("button[value=allow]").getAttribute("aria-describedby") || ""`); got != "categories-limit" {
			t.Errorf("%s: the allow button is described by %q", l, got)
		}
		c.check("consent-over-max", l)
		if got := c.eval(`String(document.getElementById("preview-cut-problems").checkVisibility())`); got != "false" {
			t.Fatalf("%s: the cut note is shown before its part is opened (%s)", l, got)
		}
		if err := chromedp.Do(c.ctx, chromedp.Click(chromedp.CSS("details:has(#preview-cut-problems) > summary"))); err != nil {
			t.Fatalf("%s: open the problems' preview: %v", l, err)
		}
		note := web.T(l, "consent.preview_cut", web.Number(l, dossier.PreviewRows), web.Number(l, n), web.Number(l, n))
		facts := c.eval(`(() => { const p = document.getElementById("preview-cut-problems"), d = p.closest("details");
			return [d.open, p.checkVisibility(), d.querySelectorAll("tbody tr").length, p.textContent].join("|") })()`)
		if want := fmt.Sprintf("true|true|%d|%s", dossier.PreviewRows, note); facts != want {
			t.Errorf("%s: opened preview %q, want %q", l, facts, want)
		}
		c.check("consent-preview-cut", l)
		c.click("allow all", http.StatusUnprocessableEntity, "button[value=allow]")
		if got := c.eval(`document.querySelector(".error-summary") && document.getElementById("categories-limit") ? "yes" : "no"`); got != "yes" {
			t.Errorf("%s: no error summary and warning after allowing every part", l)
		}
		c.check("consent-over-max-refused", l)
	}
}
