package server

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// dossierFixture: the account pages plus "Mijn dossier"; anna holds MedMij's test
// patient, bram has an empty dossier, eva is an auditor.
type dossierFixture struct {
	e               *accountEnv
	anna, bram, eva *browser
	annaID          string
	counts          map[dossier.Category]int
}

func newDossierFixture(t *testing.T) *dossierFixture {
	t.Helper()
	e := newAccountEnv(t)
	v, _ := vaulttest.New(t)
	svc := dossier.New(dossierdb.New(e.db), v)
	e.s.MountDossier(DossierDeps{Accounts: e.svc, Dossier: svc})
	f := &dossierFixture{e: e, anna: e.browser(), bram: e.browser(), eva: e.browser()}
	f.anna.login(t, "anna", e.user(t, "anna", account.RolePatient))
	f.bram.login(t, "bram", e.user(t, "bram", account.RolePatient))
	f.eva.login(t, "eva", e.user(t, "eva", account.RoleAuditor))
	list, _ := e.svc.List(context.Background())
	for _, a := range list {
		if a.Name == "anna" {
			f.annaID = a.ID
		}
	}
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Import(context.Background(), f.annaID, in, dossier.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.counts = res.Counts
	return f
}

// The patient sees every category that holds data with its count and items, in
// Dutch and English, and downloads the whole dossier as a PDF; others cannot.
func TestDossierPage(t *testing.T) {
	f := newDossierFixture(t)
	for _, l := range web.Langs {
		w := f.anna.get("/mijn-dossier?lang=" + string(l))
		page := html.UnescapeString(w.Body.String())
		if w.Code != 200 || !strings.Contains(page, "<h1>"+web.T(l, "dossier.title")+"</h1>") {
			t.Fatalf("%s: %d\n%.500s", l, w.Code, page)
		}
		total := 0
		for _, ci := range dossier.Categories {
			n := f.counts[ci.Key]
			total += n
			label := ci.LabelNL
			if l == web.EN {
				label = ci.LabelEN
			}
			count := web.T(l, "dossier.count", web.Number(l, n))
			if n == 1 {
				count = web.T(l, "dossier.count_one") // "1 gegeven", not "1 gegevens"
			}
			shown := strings.Contains(page, `<h2 id="`+string(ci.Key)+`">`+label+` <span class="count">(`+count+`)</span></h2>`)
			if shown != (n > 0) {
				t.Errorf("%s: category %s with %d items shown=%v", l, ci.Key, n, shown)
			}
		}
		if total < 20 || !strings.Contains(page, web.T(l, "dossier.intro", web.Number(l, total))) {
			t.Errorf("%s: total %d not on the page", l, total)
		}
		if rows := strings.Count(page, "<tr><td>"); rows != total {
			t.Errorf("%s: %d item rows, want %d", l, rows, total)
		}
		if l == web.EN && !strings.Contains(page, "<th scope=\"col\">Medicine</th>") {
			t.Errorf("en: column headings are not translated")
		}
		// Dates: dd-mm-jjjj for Dutch readers, the month in words for English ones.
		numeric := regexp.MustCompile(`<td>[^<]*\b\d{2}-\d{2}-\d{4}\b`).MatchString(page)
		worded := regexp.MustCompile(`<td>[^<]*\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}\b`).MatchString(page)
		if numeric != (l == web.NL) || worded != (l == web.EN) {
			t.Errorf("%s: numeric dates %v, dates with month names %v", l, numeric, worded)
		}
	}
	w := f.anna.get("/mijn-dossier/pdf")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(w.Body.Bytes(), []byte("%PDF-")) ||
		!strings.HasPrefix(w.Header().Get("Content-Disposition"), `attachment; filename="mijn-dossier-`) {
		t.Fatalf("pdf: %d %v %.20q", w.Code, w.Header(), w.Body.Bytes())
	}
	if !bytes.Contains(w.Body.Bytes(), []byte("pdfaid:part")) {
		t.Error("the download is not the PDF/A export")
	}

	// bram's dossier is empty: the page says so, the download is a calm 404.
	page := html.UnescapeString(f.bram.get("/mijn-dossier").Body.String())
	if !strings.Contains(page, web.T(web.NL, "dossier.empty")) || strings.Contains(page, "/mijn-dossier/pdf") {
		t.Errorf("empty dossier page:\n%.800s", page)
	}
	if w := f.bram.get("/mijn-dossier/pdf"); w.Code != 404 || !strings.Contains(html.UnescapeString(w.Body.String()), web.T(web.NL, "dossier.err.empty")) ||
		w.Header().Get("Content-Disposition") != "" {
		t.Errorf("empty dossier pdf: %d %v", w.Code, w.Header())
	}
	// Never another patient's data: bram's page shows none of anna's rows.
	if strings.Contains(page, "<tr><td>") {
		t.Error("bram sees rows")
	}
	// Auditors and visitors do not get the page.
	if w := f.eva.get("/mijn-dossier"); w.Code != http.StatusForbidden {
		t.Errorf("auditor: %d", w.Code)
	}
	if w := f.e.browser().get("/mijn-dossier/pdf"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Errorf("visitor: %d %s", w.Code, w.Header().Get("Location"))
	}
}
