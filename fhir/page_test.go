package fhir

import (
	"strings"
	"testing"
)

// TestReadPage: one decode yields a searchset page's entries with their
// search.mode, its total and its links; each is checked for its JSON type, and
// ReadBundle (the dossier import) reads entries' search elements not at all.
func TestReadPage(t *testing.T) {
	p, err := ReadPage([]byte(`{"resourceType":"Bundle","type":"searchset","total":2,` +
		`"link":[{"relation":"self","url":"s"},{"relation":"next","url":"n"}],` +
		`"entry":[{"resource":{"resourceType":"Patient"},"search":{"mode":"include"}},{"resource":{"resourceType":"Patient"}}]}`))
	if err != nil || p.Type != "searchset" || p.Total != 2 || len(p.Links) != 2 || p.Links[1] != (BundleLink{"next", "n"}) ||
		len(p.Entries) != 2 || p.Entries[0].SearchMode != "include" || p.Entries[1].SearchMode != "" {
		t.Fatalf("%+v, %v", p, err)
	}
	if p, err := ReadPage([]byte(`{"resourceType":"Bundle","type":"searchset"}`)); err != nil || p.Total != -1 || p.Links != nil {
		t.Fatalf("without total and links: %+v, %v", p, err)
	}
	for _, tt := range []struct{ name, elems, want string }{
		{"total a string", `"total":"2"`, "Bundle.total: not an unsignedInt"},
		{"total negative", `"total":-1`, "Bundle.total: not an unsignedInt"},
		{"total too large", `"total":2147483648`, "Bundle.total: not an unsignedInt"},
		{"total null", `"total":null`, "Bundle.total: not an unsignedInt"},
		{"link an object", `"link":{"relation":"next","url":"n"}`, "Bundle.link: not a list of relation and url"},
		{"url a number", `"link":[{"relation":"next","url":7}]`, "Bundle.link: not a list of relation and url"},
		{"Link", `"Link":[]`, `Bundle: element "Link" differs from "link" only in case`},
		{"TOTAL", `"TOTAL":1`, `Bundle: element "TOTAL" differs from "total" only in case`},
		{"search a string", `"entry":[{"resource":{"resourceType":"Patient"},"search":"match"}]`, "entry 0: Bundle.entry[0].search: not an object with a mode code"},
		{"mode a number", `"entry":[{"resource":{"resourceType":"Patient"},"search":{"mode":1}}]`, "Bundle.entry[0].search: not an object with a mode code"},
		{"envelope first", `"type":"document","total":"x"`, `Bundle.type: type "document" is not imported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(`{"resourceType":"Bundle","type":"searchset",` + tt.elems + `}`)
			if _, err := ReadPage(data); err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "json:") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, entries, err := ReadBundle([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient"},"search":"match"}]}`)); err != nil || entries[0].SearchMode != "" {
		t.Fatalf("ReadBundle: %+v, %v; want the search element unread", entries, err)
	}
}
