package zal

import (
	"regexp"
	"testing"
)

// The schema's patterns as regular expressions: the reference the hand-written
// matchers in uri.go must agree with on every input.
var (
	refProviderName = regexp.MustCompile(`^[a-z]+@medmij$`)
	refHost         = regexp.MustCompile(`^(([a-z0-9])([a-z0-9-])*(\.))+([a-z0-9])([a-z0-9-])*([a-z0-9])?$`)
	refFrontURI     = regexp.MustCompile(`^https://(([a-z0-9])([a-z0-9-])*(\.))+([a-z0-9])([a-z0-9-])*([a-z0-9])?(/[^?#/]+)*$`)
	refBackURI      = regexp.MustCompile(`^https://(([a-z0-9])([a-z0-9-])*(\.))+([a-z0-9])([a-z0-9-])*([a-z0-9])?(:[0-9]{1,5})?(/[^?#/]+)*$`)
)

var patternSeeds = []string{
	"", "noord@medmij", "@medmij", "Noord@medmij", "noord2@medmij", "noord@medmijx", "a.b", "a.", ".a", "a..b", "a-.b",
	"-a.b", "a.b-", "a.b.c", "A.b", "localhost", "a_b.c", "https://a.b", "https://a.b/", "https://a.b/x", "https://a.b//x",
	"https://a.b/x/", "https://a.b:1/x", "https://a.b:12345", "https://a.b:123456", "https://a.b:", "https://a.b:x",
	"https://a.b/x?y", "https://a.b/x#y", "https://a.b/\xff\n", "http://a.b", "https://a", "https://a.b.:1", "https://1.2/é",
	"https://noord.example.nl:8443/oauth/token", "https://a.b:1:2", "https://a.b/x:1",
}

func checkPatterns(t *testing.T, v string) {
	t.Helper()
	if got, want := matchProviderName(v), refProviderName.MatchString(v); got != want {
		t.Errorf("matchProviderName(%q) = %v, regexp %v", v, got, want)
	}
	if got, want := matchHost(v), refHost.MatchString(v); got != want {
		t.Errorf("matchHost(%q) = %v, regexp %v", v, got, want)
	}
	if got, want := matchURI(v, false), refFrontURI.MatchString(v); got != want {
		t.Errorf("matchURI(%q, false) = %v, regexp %v", v, got, want)
	}
	if got, want := matchURI(v, true), refBackURI.MatchString(v); got != want {
		t.Errorf("matchURI(%q, true) = %v, regexp %v", v, got, want)
	}
}

func TestPatternsMatchRegexps(t *testing.T) {
	for _, v := range patternSeeds {
		checkPatterns(t, v)
	}
}

// FuzzPatterns holds the matchers to the schema's regular expressions.
func FuzzPatterns(f *testing.F) {
	for _, v := range patternSeeds {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) { checkPatterns(t, v) })
}
