package server

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/web"
)

// A dossier whose parts hold more items together than one document may
// (PGO_EXPORT_MAX_ITEMS) gets a warning on the consent screen itself, before
// anything is submitted: a heading and a text with the items and the maximum,
// inside the choice of parts, which it describes, as it describes the allow
// button. Every count on the screen is written with the page's thousands
// separator (Dutch 1.000, English 1,000): the parts' counts, the preview's cut
// note, the warning and the too_large error after submitting them all.
func TestConsentWarnsOverMax(t *testing.T) {
	const most = 1000
	e := newConsentEnv(t, consentOpts{maxItems: most})
	counts := e.addProblems(t, most)
	items, problems := 0, counts[dossier.CatProblems]
	var cats []string
	for _, ci := range dossier.Categories {
		if counts[ci.Key] > 0 {
			items += counts[ci.Key]
			cats = append(cats, string(ci.Key))
		}
	}
	if items <= most || problems < most {
		t.Fatalf("counts %v: the test needs more than %d items", counts, most)
	}
	b := e.browser()
	b.login(t, patientName, e.seed)
	for _, l := range web.Langs {
		num := func(n int) string { return web.Number(l, n) }
		params := authParams("state-over-"+string(l), "")
		w := b.get("/oauth/authorize?" + params.Encode() + "&lang=" + string(l))
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: consent screen %d", l, w.Code)
		}
		if sep := map[web.Lang]string{web.NL: "1.0", web.EN: "1,0"}[l]; !strings.HasPrefix(num(problems), sep) {
			t.Fatalf("%s: %d written %q", l, problems, num(problems))
		}
		choice, _, _ := strings.Cut(body, "</fieldset>")
		for _, want := range []string{
			`aria-describedby="categories-limit"`,
			`<div class="notice notice-warning" id="categories-limit">`,
			"<h2>" + html.EscapeString(web.T(l, "consent.limit.title")) + "</h2>",
			html.EscapeString(web.T(l, "consent.limit.text", num(items), num(most), num(most))),
			"(" + web.T(l, "consent.count", num(problems)) + ")",
		} {
			if !strings.Contains(choice, want) {
				t.Errorf("%s: the choice of parts lacks %s", l, want)
			}
		}
		note := html.EscapeString(web.T(l, "consent.preview_cut", num(dossier.PreviewRows), num(problems), num(problems)))
		if !strings.Contains(previewDetails(t, body, "problems"), note) {
			t.Errorf("%s: the preview lacks %q", l, note)
		}
		// Problems alone is over the maximum, and the warning names it; no
		// other part is.
		alone := html.EscapeString(web.T(l, "consent.limit.alone", categoryLabel(l, dossier.CatProblems), num(problems)))
		prefix, _, _ := strings.Cut(html.EscapeString(web.T(l, "consent.limit.alone", "\x00", "")), "\x00")
		if !strings.Contains(choice, alone) || strings.Count(choice, prefix) != 1 {
			t.Errorf("%s: the warning does not name the problems alone (%q) once, and no other part", l, alone)
		}
		if !strings.Contains(body, `value="allow" class="secondary" aria-describedby="categories-limit"`) {
			t.Errorf("%s: the allow button is not described by the warning", l)
		}
		// all parts ticked, as the screen offers them: refused, in grouped numbers
		form := url.Values{"csrf": {hiddenCSRF.FindStringSubmatch(body)[1]}, "decision": {"allow"}, "category": cats}
		for k, v := range params {
			form[k] = v
		}
		w = b.post("/oauth/authorize", form)
		want := html.EscapeString(web.T(l, consent.ReasonTooLarge, num(items), num(most)))
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), want) ||
			!strings.Contains(w.Body.String(), `aria-describedby="categories-limit categories-error"`) {
			t.Errorf("%s: %d, want 422 with %q described in the fieldset", l, w.Code, want)
		}
	}
}
