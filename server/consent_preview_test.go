package server

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/web"
)

// The preview of a category with more items than dossier.PreviewRows shows that
// many rows in its table, the category's full count in its summary line, and a
// line under the table saying that all of them go into the document, in Dutch
// and, after the English switch, in English. The dossier is under the maximum
// one document may hold: the screen has no warning about it.
func TestConsentPreviewBounded(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	counts := e.addProblems(t, dossier.PreviewRows+10)
	n := counts[dossier.CatProblems]
	if n <= dossier.PreviewRows || counts[dossier.CatAllergies] == 0 || counts[dossier.CatAllergies] > dossier.PreviewRows {
		t.Fatalf("counts %v: the test needs problems over the bound and allergies under it", counts)
	}
	br := e.browser()
	br.login(t, patientName, e.seed)
	for _, l := range []web.Lang{web.NL, web.EN} {
		w := br.get("/oauth/authorize?" + authParams("state-preview-"+string(l), "").Encode() + "&lang=" + string(l))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: consent screen %d", l, w.Code)
		}
		// a dossier under PGO_EXPORT_MAX_ITEMS: no warning about the maximum
		if strings.Contains(w.Body.String(), "categories-limit") || strings.Contains(w.Body.String(), web.T(l, "consent.limit.title")) {
			t.Errorf("%s: the screen warns about the maximum for a dossier under it", l)
		}
		problems := previewDetails(t, w.Body.String(), "problems")
		summary := fmt.Sprintf("<summary>%s (%s)</summary>", categoryLabel(l, dossier.CatProblems), web.T(l, "consent.count", web.Number(l, n)))
		note := html.EscapeString(web.T(l, "consent.preview_cut", web.Number(l, dossier.PreviewRows), web.Number(l, n), web.Number(l, n)))
		if rows := tbodyRows(problems); rows != dossier.PreviewRows || !strings.Contains(problems, summary) ||
			!strings.Contains(problems, note) || !strings.Contains(problems, `aria-describedby="preview-cut-problems"`) {
			t.Errorf("%s: problems preview with %d rows, want %d, the summary %q and the note %q:\n%s", l, rows,
				dossier.PreviewRows, summary, note, problems)
		}
		allergies := previewDetails(t, w.Body.String(), "allergies")
		if rows := tbodyRows(allergies); rows != counts[dossier.CatAllergies] || strings.Contains(allergies, "preview-cut") {
			t.Errorf("%s: allergies preview with %d rows, want all %d and no note", l, rows, counts[dossier.CatAllergies])
		}
	}
	if web.T(web.NL, "consent.preview_cut", "1", "2", "2") == web.T(web.EN, "consent.preview_cut", "1", "2", "2") {
		t.Error("consent.preview_cut has no Dutch text of its own")
	}
}

// addProblems imports n more problems ("Extra probleem i") into the patient's
// dossier, whose first 50 the preview shows, and returns the dossier's counts.
func (e *consentEnv) addProblems(t *testing.T, n int) map[dossier.Category]int {
	t.Helper()
	ctx := context.Background()
	entries := make([]map[string]any, n)
	for i := range entries {
		entries[i] = map[string]any{"resource": json.RawMessage(fmt.Sprintf(`{"resourceType":"Condition","id":"extra-%d",
			"code":{"text":"Extra probleem %d"},"subject":{"reference":"Patient/medmij-bgz-test-patA"}}`, i, i))}
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(b)
	if err != nil {
		t.Fatal(err)
	}
	dos := dossier.New(dossierdb.New(e.db), e.sealer)
	if _, err := dos.Import(ctx, e.patient, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	counts, err := dos.Counts(ctx, e.patient)
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// previewDetails returns the <details> of the preview of category key.
func previewDetails(t *testing.T, body, key string) string {
	t.Helper()
	for _, d := range strings.Split(body, "<details>")[1:] {
		d, _, _ = strings.Cut(d, "</details>")
		if strings.Contains(d, "<caption>"+html.EscapeString(categoryLabel(web.NL, dossier.Category(key)))+"</caption>") ||
			strings.Contains(d, "<caption>"+html.EscapeString(categoryLabel(web.EN, dossier.Category(key)))+"</caption>") {
			return d
		}
	}
	t.Fatalf("no preview of %s", key)
	return ""
}

// tbodyRows counts the rows in a table's body.
func tbodyRows(s string) int {
	_, body, _ := strings.Cut(s, "<tbody>")
	body, _, _ = strings.Cut(body, "</tbody>")
	return strings.Count(body, "<tr>")
}
