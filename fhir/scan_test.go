package fhir

import (
	"errors"
	"strings"
	"testing"
)

// ScanBundle reads entry by entry with ReadBundle's checks: the envelope's errors
// come first although "entry" precedes "type" (as in a generated file, whose keys
// are sorted), an entry without a resource names its index, and non-Bundles and
// bad JSON are told apart for the caller's fallback.
func TestScanBundle(t *testing.T) {
	var got []Entry
	collect := func(e Entry) error { got = append(got, e); return nil }
	typ, err := ScanBundle(strings.NewReader(`{"entry":[{"fullUrl":"urn:uuid:a","resource":{"resourceType":"Patient"}},
		{"resource":{"resourceType":"Condition"}}],"id":"x","resourceType":"Bundle","type":"collection"}`), collect)
	if err != nil || typ != "collection" || len(got) != 2 || got[0].FullURL != "urn:uuid:a" || got[1].Index != 1 ||
		string(got[1].JSON) != `{"resourceType":"Condition"}` {
		t.Fatalf("%q %v %+v", typ, err, got)
	}
	tests := []struct {
		name, json string
		want       string
		is         error
	}{
		{"bad JSON", `{"resourceType":"Bundle"`, "not JSON", ErrNotJSON},
		{"trailing data", `{"resourceType":"Bundle","type":"collection"} {}`, "data after", ErrNotJSON},
		{"array", `[]`, "not a JSON object", ErrNotJSON},
		{"not a bundle", `{"resourceType":"Patient"}`, "not a Bundle", ErrNotBundle},
		{"wrong type after a bad entry", `{"entry":[{"fullUrl":"urn:uuid:1"}],"resourceType":"Bundle","type":"document"}`, `Bundle.type: type "document" is not imported`, nil},
		{"entry without resource", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{}},{"fullUrl":"urn:uuid:1"}]}`, "entry 1: Bundle.entry[1].resource: entry has no resource", nil},
		{"entry not an array", `{"resourceType":"Bundle","type":"collection","entry":{}}`, "entry element of the Bundle is not an array", ErrNotJSON},
		// elements of the wrong JSON type are named by their path, not by Go's types
		{"entry not an object", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{}},5]}`, "entry 1: Bundle.entry[1]: not an object", nil},
		{"fullUrl not a string", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":[],"resource":{}}]}`, "entry 0: Bundle.entry[0].fullUrl: not a string", nil},
		{"type not a string", `{"resourceType":"Bundle","type":1,"entry":[]}`, "Bundle.type: not a string", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ScanBundle(strings.NewReader(tt.json), func(Entry) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v, want %q (%v)", err, tt.want, tt.is)
			}
			if tt.is == nil && (strings.Contains(err.Error(), "json:") || strings.Contains(err.Error(), "Go ")) {
				t.Fatalf("Go's error in the message: %v", err)
			}
		})
	}
	// fn's error is returned as it is; fn is not called again after it
	boom, calls := errors.New("boom"), 0
	_, err = ScanBundle(strings.NewReader(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{}},{"resource":{}}]}`),
		func(Entry) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("%v after %d calls", err, calls)
	}
}
