package web

import "testing"

// A path with three or more leading slashes (or a backslash after the first)
// parses without a host, but browsers read "///evil.example/x" and
// "/\evil.example/x" as links to evil.example: the language link of a 404 for
// such an address went off the site.
func TestLangLinksNeverLeaveTheSite(t *testing.T) {
	for _, path := range []string{"///evil.example/phish", "////evil.example/phish?a=1", `/\evil.example/x`, "///", "/\\/x"} {
		got := Page{Lang: NL, Path: path}.LangLinks()
		if len(got) != 1 || got[0].Href != "/?lang=en" {
			t.Errorf("LangLinks(%q) = %+v, want one link to /?lang=en", path, got)
		}
	}
}
