package fhir

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Page is one page of a search result (FHIR STU3 http.html#paging): what
// ReadBundle returns, with each entry's search.mode, and the Bundle's total and
// links, from the one decode of the page.
type Page struct {
	Type    string  // Bundle.type
	Entries []Entry // in order, each with its SearchMode
	// Total is Bundle.total: the number of matches of the search over all its
	// pages, not counting entries included or outcomes (STU3
	// bundle-definitions.html#Bundle.total); -1 when the page does not say (the
	// element is optional).
	Total int64
	Links []BundleLink // Bundle.link, in order
}

// ReadPage reads one page of a search result as ReadBundle reads a Bundle, and
// also its total (an unsignedInt), its links (each a relation and a url) and every
// entry's search.mode (a string; its value is the caller's to judge). FHIR's
// element names are case-sensitive: a page with, say, "Link" for "link" is
// refused rather than read without its links, so a next page cannot go unseen.
func ReadPage(data []byte) (Page, error) {
	typ, entries, b, err := readBundle(data, true)
	if err != nil {
		return Page{}, err
	}
	env := Entry{Index: -1}
	for k := range b {
		for _, name := range []string{"link", "total"} {
			if k != name && strings.EqualFold(k, name) {
				return Page{}, at(env, "Bundle", fmt.Sprintf("element %q differs from %q only in case", k, name))
			}
		}
	}
	p := Page{Type: typ, Entries: entries, Total: -1}
	if t, ok := b["total"]; ok && (json.Unmarshal(t, &p.Total) != nil || p.Total < 0 || p.Total > math.MaxInt32) {
		return Page{}, at(env, "Bundle.total", "not an unsignedInt")
	}
	if l, ok := b["link"]; ok && json.Unmarshal(l, &p.Links) != nil {
		return Page{}, at(env, "Bundle.link", "not a list of relation and url")
	}
	return p, nil
}
