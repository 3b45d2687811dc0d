package web

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestTranslationsHaveSameKeys(t *testing.T) {
	nl, en := Keys(NL), Keys(EN)
	slices.Sort(nl)
	slices.Sort(en)
	for _, k := range nl {
		if _, ok := slices.BinarySearch(en, k); !ok {
			t.Errorf("key %q is in nl.json but not in en.json", k)
		}
	}
	for _, k := range en {
		if _, ok := slices.BinarySearch(nl, k); !ok {
			t.Errorf("key %q is in en.json but not in nl.json", k)
		}
	}
}

func TestParseLang(t *testing.T) {
	tests := []struct {
		explicit, accept string
		want             Lang
	}{
		{"", "", NL},
		{"en", "", EN},
		{"EN", "nl", EN},
		{"nl", "en", NL},
		{"de", "en-GB,en;q=0.9", EN},
		{"", "de-DE, en;q=0.5, nl;q=0.8", NL},
		{"", "de-DE, en;q=0.5, nl;q=0.3", EN},
		{"", "en;q=0", NL},
		{"", "en;q=abc", NL},
		{"", "fr", NL},
		{"xx-yy", "*", NL},
	}
	for _, tt := range tests {
		if got := ParseLang(tt.explicit, tt.accept); got != tt.want {
			t.Errorf("ParseLang(%q, %q) = %q, want %q", tt.explicit, tt.accept, got, tt.want)
		}
	}
}

func TestTFallsBack(t *testing.T) {
	if got := T(EN, "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key: got %q", got)
	}
	if got := T(Lang("de"), "error.home"); got != T(NL, "error.home") {
		t.Errorf("unknown language should fall back to Dutch, got %q", got)
	}
}

func TestRenderErrorPage(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range Langs {
		var buf bytes.Buffer
		v := ErrorView{Page: Page{Lang: lang, InstanceName: "PGO <Noord>", RequestID: "req-123"}, Status: 404, Code: "not_found"}
		if err := r.Render(&buf, "error", v); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{`<html lang="` + string(lang) + `">`, T(lang, "error.not_found.title"), "req-123", "PGO &lt;Noord&gt;", `href="/static/pgo.css"`} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: page lacks %q", lang, want)
			}
		}
		if strings.Contains(out, "<Noord>") {
			t.Errorf("%s: instance name not escaped", lang)
		}
		if strings.Contains(out, "style=") || strings.Contains(out, "<script") {
			t.Errorf("%s: inline style or script breaks the CSP", lang)
		}
	}
}

func TestRenderUnknownPage(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, "nope", Page{}); err == nil || buf.Len() != 0 {
		t.Fatalf("unknown page: err=%v, wrote %d bytes", err, buf.Len())
	}
	// A view without the fields the layout needs fails without partial output.
	if err := r.Render(&buf, "home", struct{}{}); err == nil || buf.Len() != 0 {
		t.Fatalf("bad view: err=%v, wrote %d bytes", err, buf.Len())
	}
}

func TestEveryErrorCodeHasText(t *testing.T) {
	codes := []string{"invalid", "not_found", "conflict", "unauthorized", "forbidden", "too_large",
		"rate_limited", "unavailable", "internal", "method_not_allowed", "other"}
	for _, l := range Langs {
		for _, c := range codes {
			v := ErrorView{Page: Page{Lang: l}, Code: c}
			if strings.HasPrefix(v.Heading(), "error.") || strings.HasPrefix(v.Explanation(), "error.") {
				t.Errorf("%s: code %s has no translation", l, c)
			}
		}
	}
}

func TestStaticHasStylesheet(t *testing.T) {
	f, err := Static().Open("pgo.css")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
