package web

import (
	"bytes"
	"html"
	"strings"
	"testing"
)

func TestNumber(t *testing.T) {
	for _, c := range []struct {
		l    Lang
		n    int
		want string
	}{
		{NL, 0, "0"}, {EN, 999, "999"}, {NL, 1000, "1.000"}, {EN, 1000, "1,000"},
		{NL, 25_000, "25.000"}, {EN, 25_000, "25,000"}, {NL, 999_999, "999.999"},
		{NL, 1_234_567, "1.234.567"}, {EN, 1_234_567, "1,234,567"}, {EN, -25_000, "-25,000"},
		{Lang("de"), 25_000, "25.000"}, // an unknown language writes as Dutch, the default
	} {
		if got := Number(c.l, c.n); got != c.want {
			t.Errorf("Number(%s, %d) = %q, want %q", c.l, c.n, got, c.want)
		}
	}
}

// The consent screen writes every count in the page's language: the parts'
// counts, the preview's cut note, the too_large error and the warning that the
// parts offered hold more than one document may. Without that warning's fields
// the screen shows no warning.
func TestConsentScreenNumbersAndWarning(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]string, 50)
	for i := range rows {
		rows[i] = []string{"x"}
	}
	for _, l := range Langs {
		p := Page{Lang: l, InstanceName: "PGO Noord", Path: "/oauth/authorize"}
		v := ConsentView{Page: p, Provider: "PGO Noord", Client: "PGO Zuid", Minutes: 15,
			Categories: []ConsentCategory{{Key: "problems", Label: "Problemen", Count: 26_000, Checked: true},
				{Key: "allergies", Label: "Allergieën", Count: 1_500, Checked: true}},
			Preview: []PreviewSection{{Key: "problems", Label: "Problemen", Columns: []string{"A"}, Rows: rows, Count: 26_000}},
			Error:   "consent.error.too_large", ErrorArgs: []any{27_500, 25_000},
			OverMax: true, Items: 27_500, MaxItems: 25_000}
		var buf bytes.Buffer
		if err := r.Render(&buf, "consent_screen", v); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		n, items, most := Number(l, 26_000), Number(l, 27_500), Number(l, 25_000)
		if l == NL && (n != "26.000" || most != "25.000") || l == EN && (n != "26,000" || most != "25,000") {
			t.Fatalf("%s: %s, %s", l, n, most)
		}
		for _, want := range []string{
			"(" + T(l, "consent.count", n) + ")",
			"(" + T(l, "consent.count", Number(l, 1_500)) + ")",
			T(l, "consent.preview_cut", "50", n, n),
			T(l, "consent.error.too_large", items, most),
			T(l, "consent.limit.text", items, most, most),
		} {
			if !strings.Contains(out, html.EscapeString(want)) {
				t.Errorf("%s: the screen lacks %q", l, want)
			}
		}
		for _, want := range []string{
			`<div class="notice notice-warning" id="categories-limit">`,
			"<h2>" + html.EscapeString(T(l, "consent.limit.title")) + "</h2>",
			`aria-describedby="categories-limit categories-error"`,
			`value="allow" class="secondary" aria-describedby="categories-limit"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the screen lacks %s", l, want)
			}
		}
		if strings.Contains(out, "26000") || strings.Contains(out, "25000") || strings.Contains(out, "%!") {
			t.Errorf("%s: a count without its separator, or a bad verb:\n%s", l, out)
		}
		v.OverMax, v.Error = false, ""
		buf.Reset()
		if err := r.Render(&buf, "consent_screen", v); err != nil {
			t.Fatal(err)
		}
		if out := buf.String(); strings.Contains(out, "categories-limit") || strings.Contains(out, T(l, "consent.limit.title")) ||
			strings.Contains(out, "aria-describedby=\"categories") {
			t.Errorf("%s: a warning without OverMax", l)
		}
	}
	if T(NL, "consent.limit.text", "1", "2", "2") == T(EN, "consent.limit.text", "1", "2", "2") ||
		T(NL, "consent.limit.title") == T(EN, "consent.limit.title") {
		t.Error("consent.limit has no Dutch text of its own")
	}
}

// "Mijn dossier" and "Mijn toestemmingen" write their counts as the consent
// screen does.
func TestDossierAndGrantsNumbers(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Langs {
		p := Page{Lang: l, InstanceName: "PGO Noord", Path: "/x"}
		var dos, grants bytes.Buffer
		err := r.Render(&dos, "dossier_mine", DossierView{Page: p, Total: 25_001, Sections: []DossierSection{{Key: "problems",
			Label: "Problemen", Count: 25_000, Columns: []string{"Soort"}, Rows: [][]string{{"x"}}},
			{Key: "allergies", Label: "Allergieën", Count: 1, Columns: []string{"Soort"}, Rows: [][]string{{"x"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Render(&grants, "consent_grants", GrantsView{Page: p, Grants: []GrantRow{{ID: "g1", Client: "PGO Zuid",
			State: "used", Categories: "Problemen", Pages: 1_200}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ out, want string }{
			{dos.String(), T(l, "dossier.intro", Number(l, 25_001))},
			{dos.String(), "(" + T(l, "dossier.count", Number(l, 25_000)) + ")"},
			{dos.String(), "(" + T(l, "dossier.count_one") + ")"},
			{grants.String(), T(l, "grants.pages", Number(l, 1_200))},
		} {
			if !strings.Contains(c.out, html.EscapeString(c.want)) || strings.Contains(c.want, "%!") {
				t.Errorf("%s: the page lacks %q", l, c.want)
			}
		}
		// one item is one, not "1 items" / "1 gegevens"
		if one := "(" + T(l, "dossier.count", "1") + ")"; strings.Contains(dos.String(), html.EscapeString(one)) {
			t.Errorf("%s: the page reads %q for a part with one item", l, one)
		}
		var single bytes.Buffer
		if err := r.Render(&single, "dossier_mine", DossierView{Page: p, Total: 1, Sections: []DossierSection{{Key: "allergies",
			Label: "Allergieën", Count: 1, Columns: []string{"Soort"}, Rows: [][]string{{"x"}}}}}); err != nil {
			t.Fatal(err)
		}
		if out := single.String(); !strings.Contains(out, html.EscapeString(T(l, "dossier.intro_one"))) ||
			strings.Contains(out, html.EscapeString(T(l, "dossier.intro", "1"))) {
			t.Errorf("%s: a dossier of one item does not say so in the singular:\n%s", l, out)
		}
	}
}
