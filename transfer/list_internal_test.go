package transfer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
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
		{`[{"relation":"next","url":7}]`, "", "is not a valid Bundle: Bundle.link: not a list of relation and url"},
		{`{"relation":"next"}`, "", "is not a valid Bundle: Bundle.link: not a list of relation and url"},
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

// TestPageTotal: a page that declares Bundle.total must hold that many matches
// (FHIR STU3 bundle-definitions.html#Bundle.total): DocumentReferences whose
// search.mode is match or absent, current or not; an included resource or an
// outcome does not count. A total that is not an unsignedInt, or a total or
// link element written with other capitals, is refused; no total, no check.
func TestPageTotal(t *testing.T) {
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id, status, search string) string {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		d["id"], d["status"] = id, status
		d["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)["url"] = "Binary/" + id
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return `{"fullUrl":"` + fuzzBase + `/DocumentReference/` + id + `","resource":` + string(b) + search + `}`
	}
	const (
		match    = `,"search":{"mode":"match"}`
		patient  = `{"fullUrl":"` + fuzzBase + `/Patient/p","resource":{"resourceType":"Patient","id":"p"},"search":{"mode":"include"}}`
		outcome  = `{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]},"search":{"mode":"outcome"}}`
		declared = "the document list declares "
	)
	for _, tc := range []struct {
		name, total, entries string
		docs                 int    // with want "": the documents taken
		want                 string // the failure's detail; "" for none
		reason               Reason
	}{
		{"no total", ``, doc("a", "current", match), 1, "", ""},
		{"true total", `"total":1,`, doc("a", "current", match), 1, "", ""},
		{"no search mode counts", `"total":1,`, doc("a", "current", ""), 1, "", ""},
		{"include and outcome do not count", `"total":1,`, patient + `,` + doc("a", "current", match) + `,` + outcome, 1, "", ""},
		{"not current counts", `"total":2,`, doc("a", "superseded", match) + `,` + doc("b", "current", match), 1, "", ""},
		{"total too large", `"total":2,`, doc("a", "current", match), 0,
			declared + "2 matching DocumentReference(s) (Bundle.total) but its page holds 1: the list is incomplete", ReasonBadBundle},
		{"total too small", `"total":1,`, doc("a", "superseded", match) + `,` + doc("b", "current", match), 0,
			declared + "1 matching DocumentReference(s) (Bundle.total) but its page holds 2", ReasonBadBundle},
		{"included ones counted by the source", `"total":2,`, patient + `,` + doc("a", "current", match), 0,
			declared + "2 matching DocumentReference(s) (Bundle.total) but its page holds 1", ReasonBadBundle},
		{"no entries but a total", `"total":2,`, ``, 0, declared + "2 matching DocumentReference(s) (Bundle.total) but its page holds 0", ReasonBadBundle},
		{"no entries, total 0", `"total":0,`, ``, 0, "the source lists no current documents", ReasonNoDocuments},
		{"total a string", `"total":"1",`, doc("a", "current", match), 0, "Bundle.total: not an unsignedInt", ReasonBadBundle},
		{"total negative", `"total":-1,`, doc("a", "current", match), 0, "Bundle.total: not an unsignedInt", ReasonBadBundle},
		{"total a fraction", `"total":1.5,`, doc("a", "current", match), 0, "Bundle.total: not an unsignedInt", ReasonBadBundle},
		{"total null", `"total":null,`, doc("a", "current", match), 0, "Bundle.total: not an unsignedInt", ReasonBadBundle},
		{"Total", `"Total":2,`, doc("a", "current", match), 0, `Bundle: element "Total" differs from "total" only in case`, ReasonBadBundle},
		{"LINK", `"LINK":[],`, doc("a", "current", match), 0, `Bundle: element "LINK" differs from "link" only in case`, ReasonBadBundle},
		{"search not an object", ``, doc("a", "current", `,"search":"match"`), 0, "Bundle.entry[0].search: not an object with a mode code", ReasonBadBundle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"resourceType":"Bundle","type":"searchset",` + tc.total + `"entry":[` + tc.entries + `]}`)
			docs, f := parseList(fuzzBase, body)
			switch {
			case tc.want == "" && (f != nil || len(docs) != tc.docs):
				t.Errorf("%d documents, %v; want %d", len(docs), f, tc.docs)
			case tc.want != "" && (f == nil || f.Reason != tc.reason || !strings.Contains(f.Detail, tc.want)):
				t.Errorf("%v; want %s: %s", f, tc.reason, tc.want)
			}
		})
	}
}
