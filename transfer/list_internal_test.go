package transfer

import (
	"strings"
	"testing"
)

// TestNextLink: the next link of a page (FHIR STU3 http.html#paging) is taken
// only as a DocumentReference search under the source's FHIR base, absolute or
// relative to it; anything else, two next links, or a malformed Bundle.link is
// refused with a precise detail.
func TestNextLink(t *testing.T) {
	page := func(links string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"searchset","link":` + links + `}`)
	}
	for _, tc := range []struct {
		links string
		next  string // "" with want: refused
		want  string
	}{
		{`[{"relation":"self","url":"` + fuzzBase + `/DocumentReference?status=current"}]`, "", ""},
		{`[{"relation":"next","url":"` + fuzzBase + `/DocumentReference?status=current&page=2"}]`,
			fuzzBase + "/DocumentReference?status=current&page=2", ""},
		{`[{"relation":"Next","url":"DocumentReference?_getpages=x#frag"}]`, fuzzBase + "/DocumentReference?_getpages=x", ""},
		{`[{"relation":"next","url":""}]`, "", "links a next page that is not a DocumentReference search under the source's FHIR base"},
		{`[{"relation":"next","url":"https://elders.localhost/51/fhir/DocumentReference?page=2"}]`, "",
			`links a next page on host "elders.localhost" that is not a DocumentReference search`},
		// HAPI FHIR's paging links name the base itself
		{`[{"relation":"next","url":"` + fuzzBase + `?_getpages=x&_getpagesoffset=10&_count=10"}]`, fuzzBase + "?_getpages=x&_getpagesoffset=10&_count=10", ""},
		{`[{"relation":"next","url":"?_getpages=x"}]`, fuzzBase + "/?_getpages=x", ""},
		{`[{"relation":"next","url":"` + fuzzBase + `?status=current"}]`, "", "not a DocumentReference search"},
		{`[{"relation":"next","url":"` + fuzzBase + `?_getpages="}]`, "", "not a DocumentReference search"},
		{`[{"relation":"next","url":"` + fuzzBase + `/Patient?_getpages=x"}]`, "", "not a DocumentReference search"},
		{`[{"relation":"next","url":"` + fuzzBase + `/DocumentReference?a=1"},{"relation":"next","url":"` + fuzzBase + `/DocumentReference?a=2"}]`,
			"", "has 2 next links: which page follows is unclear"},
		{`[{"relation":"next","url":7}]`, "", "has a Bundle.link that is not a list of relation and url"},
		{`{"relation":"next"}`, "", "has a Bundle.link that is not a list of relation and url"},
	} {
		l := listing{base: fuzzBase, asked: map[string]int{fuzzBase + "/DocumentReference?status=current": 1}}
		next, f := l.add(page(tc.links))
		switch {
		case tc.want == "" && (f != nil || next != tc.next):
			t.Errorf("%s: next %q, %v; want %q", tc.links, next, f, tc.next)
		case tc.want != "" && (f == nil || f.Reason != ReasonBadBundle || !strings.Contains(f.Detail, tc.want)):
			t.Errorf("%s: next %q, %v; want %s: %s", tc.links, next, f, ReasonBadBundle, tc.want)
		}
	}
}
