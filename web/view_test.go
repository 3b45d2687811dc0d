package web

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestLangLinksKeepThePage(t *testing.T) {
	tests := []struct {
		path string
		lang Lang
		want string
	}{
		{"", NL, "/?lang=en"},
		{"/", EN, "/?lang=nl"},
		{"/audit?action=token_issued&cursor=12", NL, "/audit?action=token_issued&cursor=12&lang=en"},
		{"/mijn-log?lang=nl&from=2026-01-01", NL, "/mijn-log?from=2026-01-01&lang=en"},
		{"/login?next=%2Faudit%3Fx%3D1", NL, "/login?lang=en&next=%2Faudit%3Fx%3D1"},
		// Never a link off the site, whatever the path says.
		{"https://evil.example/x", NL, "/?lang=en"},
		{"//evil.example/x", NL, "/?lang=en"},
		{"relative", NL, "/?lang=en"},
		{"/%zz", NL, "/?lang=en"},
	}
	for _, tt := range tests {
		got := Page{Lang: tt.lang, Path: tt.path}.LangLinks()
		if len(got) != 1 || got[0].Href != tt.want || got[0].Lang == tt.lang {
			t.Errorf("LangLinks(%q, %s) = %+v, want one link %q", tt.path, tt.lang, got, tt.want)
		}
	}
}

func TestCurrentMarksOnlyThePageShown(t *testing.T) {
	tests := []struct {
		path, link, want string
	}{
		{"", "/", "page"},
		{"/audit?action=x", "/audit", "page"},
		{"/audit", "/", ""},
		{"/account/enrol", "/account", ""},
		{"/mijn-log", "/audit", ""},
	}
	for _, tt := range tests {
		if got := (Page{Path: tt.path}).Current(tt.link); got != tt.want {
			t.Errorf("Current(%q) on %q = %q, want %q", tt.link, tt.path, got, tt.want)
		}
	}
}

// The error summary lists errors in the order of the form's fields (a map would
// give them in key order), each linking to its field; the cursor error has no
// field and no link.
func TestErrorSummaryInFormOrder(t *testing.T) {
	v := AuditView{Page: Page{Lang: NL}, Errors: map[string]string{
		"to": "audit.err.period", "cursor": "audit.err.cursor", "action": "audit.err.action", "from": "audit.err.date"}}
	var fields []string
	for _, e := range v.Summary().Items {
		fields = append(fields, e.Field)
	}
	if got := strings.Join(fields, ","); got != "from,to,action," {
		t.Errorf("summary order %q", got)
	}
	if v.Summary().Title != T(NL, "form.errors") {
		t.Errorf("summary title %q", v.Summary().Title)
	}
	if n := len((AuditView{Page: Page{Lang: NL}}).Summary().Items); n != 0 {
		t.Errorf("no errors, %d summary items", n)
	}
	if s := (LoginView{Page: Page{Lang: EN}}).Summary(); len(s.Items) != 0 {
		t.Errorf("login without error has a summary: %+v", s)
	}
	if s := (CodeView{Page: Page{Lang: EN}, Error: "login.code.wrong"}).Summary(); len(s.Items) != 1 ||
		s.Items[0].Field != "code" || s.Items[0].Text != T(EN, "login.code.wrong") {
		t.Errorf("code summary %+v", s)
	}
}

func TestActionLabel(t *testing.T) {
	v := AuditView{Page: Page{Lang: NL}}
	if got := v.ActionLabel("document_fetched"); got != "Dossier opgehaald door een andere PGO (document_fetched)" {
		t.Errorf("known action: %q", got)
	}
	if got := v.ActionLabel("not_an_action"); got != "not_an_action" {
		t.Errorf("unknown action: %q", got)
	}
}

// The header shows what the session allows: a visitor the login link; a patient
// their log and a logout form carrying the CSRF token; an auditor the audit log.
func TestHeaderFollowsNav(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	logout := regexp.MustCompile(`(?s)<form method="post" action="/logout" class="logout">\s*<input type="hidden" name="csrf" value="tok-1">`)
	tests := []struct {
		nav        Nav
		want, dont []string
	}{
		{Nav{}, []string{`href="/login"`}, []string{`action="/logout"`, `href="/audit"`, `href="/mijn-log"`}},
		{Nav{LoggedIn: true, Role: "patient", CSRF: "tok-1"}, []string{`href="/mijn-log"`, `href="/account"`}, []string{`href="/audit"`, `href="/login"`}},
		{Nav{LoggedIn: true, Role: "auditor", CSRF: "tok-1"}, []string{`href="/audit"`, `href="/account"`}, []string{`href="/mijn-log"`, `href="/login"`}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := r.Render(&buf, "home", HomeView{Page: Page{Lang: NL, InstanceName: "PGO", Path: "/", Nav: tt.nav}}); err != nil {
			t.Fatal(err)
		}
		header, _, _ := strings.Cut(buf.String(), "</header>")
		for _, w := range tt.want {
			if !strings.Contains(header, w) {
				t.Errorf("%+v: header lacks %s", tt.nav, w)
			}
		}
		for _, d := range tt.dont {
			if strings.Contains(header, d) {
				t.Errorf("%+v: header has %s", tt.nav, d)
			}
		}
		if tt.nav.LoggedIn != logout.MatchString(header) {
			t.Errorf("%+v: logout form with token present = %v", tt.nav, !tt.nav.LoggedIn)
		}
	}
}

// Every page renders in both languages with a title "Page · Instance", a skip
// link first, and no inline style or script (the CSP forbids them).
func TestEveryPageRendersInBothLanguages(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Langs {
		p := Page{Lang: l, InstanceName: "PGO Noord", Path: "/x"}
		views := map[string]any{
			"home": HomeView{Page: p}, "error": ErrorView{Page: p, Code: "not_found"},
			"login": LoginView{Page: p, Error: "login.failed"}, "login_code": CodeView{Page: p},
			"account": AccountView{Page: p, Role: "patient"}, "enrol": EnrolView{Page: p, Pending: true},
			"enrol_codes": CodesView{Page: p, Codes: []string{"A"}},
			"audit":       AuditView{Page: p, Errors: map[string]string{"from": "audit.err.date"}},
			"mylog":       MyLogView{Page: p},
			"password":    PasswordView{Page: p, Errors: map[string]string{"new_password": "password.too_short", "": "login.busy"}},
			// consent (issue 10)
			"consent_screen": ConsentView{Page: p, Provider: "PGO Noord", Client: "PGO Zuid", Minutes: 15, Error: "consent.error.no_category",
				OverMax: true, Items: 30_000, MaxItems: 25_000,
				Categories: []ConsentCategory{{Key: "problems", Label: "Problemen", Count: 2}},
				Preview:    []PreviewSection{{Key: "problems", Label: "Problemen", Columns: []string{"A"}, Rows: [][]string{{"x"}}}}},
			"consent_grants": GrantsView{Page: p, Grants: []GrantRow{{ID: "g1", Client: "PGO Zuid", State: "active", Active: true, Categories: "Problemen", Pages: 3}}},
			"dossier_mine": DossierView{Page: p, Total: 1, Sections: []DossierSection{{Key: "problems", Label: "Problemen", Count: 1,
				Columns: []string{"Probleem"}, Rows: [][]string{{"Astma"}}}}},
		}
		// dossier (issue 13)
		views["dossier_mine"] = DossierView{Page: p, Total: 1, Sections: []DossierSection{{Key: "problems", Label: "Problemen", Count: 1,
			Columns: []string{"Soort"}, Rows: [][]string{{"x"}}}}}
		for name, v := range transferViews(p) {
			views[name] = v
		}
		if len(views) != len(r.Pages()) {
			t.Fatalf("pages %v: a page is not covered here", r.Pages())
		}
		for name, v := range views {
			var buf bytes.Buffer
			if err := r.Render(&buf, name, v); err != nil {
				t.Fatalf("%s %s: %v", l, name, err)
			}
			out := buf.String()
			title := regexp.MustCompile(`<title>(.+) · PGO Noord</title>`).FindStringSubmatch(out)
			if title == nil || strings.Contains(title[1], ".") && !strings.Contains(title[1], " ") {
				t.Errorf("%s %s: title %v", l, name, title)
			}
			body := out[strings.Index(out, "<body>"):]
			if !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(body, "<body>")), `<a class="skip" href="#main">`) {
				t.Errorf("%s %s: the skip link is not the first thing in the body", l, name)
			}
			if strings.Contains(out, "style=") || regexp.MustCompile(`<script(?: defer)?>|<script [^>]*>[^<]`).MatchString(out) ||
				strings.Contains(out, "<script") && !strings.Contains(out, `<script src="/static/`) || regexp.MustCompile(` on[a-z]+=`).MatchString(out) {
				t.Errorf("%s %s: inline style or script", l, name)
			}
		}
	}
}
