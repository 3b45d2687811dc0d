package fhir

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// BundleTypes we import: a transaction (what a client posts), a collection (an export)
// and a searchset (what a gegevensdienst answers to a search), FHIR STU3/R4 §2.36.
var BundleTypes = map[string]bool{"transaction": true, "collection": true, "searchset": true}

// ReadBundle splits a Bundle into its entries without validating them, so that each
// entry can be validated (and reported) on its own. It checks the envelope: a Bundle of
// an accepted type, every entry with a resource.
func ReadBundle(data []byte) (bundleType string, entries []Entry, err error) {
	bundleType, entries, _, err = readBundle(data, false)
	return bundleType, entries, err
}

// readBundle is ReadBundle, also returning the Bundle's elements undecoded; with
// search, each entry's search.mode is read too (ReadPage).
func readBundle(data []byte, search bool) (string, []Entry, map[string]json.RawMessage, error) {
	env := Entry{Index: -1}
	if err := syntaxCheck(data); err != nil {
		return "", nil, nil, at(env, "", err.Error())
	}
	var b map[string]json.RawMessage
	if err := json.Unmarshal(data, &b); err != nil {
		return "", nil, nil, at(env, "", "not a JSON object")
	}
	var resourceType, bundleType string
	if json.Unmarshal(b["resourceType"], &resourceType) != nil || resourceType != "Bundle" {
		return "", nil, nil, at(env, "resourceType", "expected a Bundle")
	}
	if t, ok := b["type"]; ok && json.Unmarshal(t, &bundleType) != nil {
		return "", nil, nil, at(env, "Bundle.type", "not a string")
	}
	if !BundleTypes[bundleType] {
		return "", nil, nil, at(env, "Bundle.type", fmt.Sprintf("type %q is not imported (use transaction, collection or searchset)", bundleType))
	}
	var raw []json.RawMessage
	if es, ok := b["entry"]; ok && json.Unmarshal(es, &raw) != nil {
		return "", nil, nil, at(env, "Bundle.entry", "not an array")
	}
	var entries []Entry
	for i, r := range raw {
		e, err := readEntry(i, r, search)
		if err != nil {
			return "", nil, nil, err
		}
		entries = append(entries, e)
	}
	return bundleType, entries, b, nil
}

// readEntry reads Bundle.entry[i] (raw is valid JSON): an object with a resource
// and, optionally, a fullUrl string; with search, also search.mode, a string.
// Its errors name the element, never a Go type.
func readEntry(i int, raw json.RawMessage, search bool) (Entry, *Error) {
	path := fmt.Sprintf("Bundle.entry[%d]", i)
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &e) != nil || e == nil {
		return Entry{}, &Error{Entry: i, Path: path, Reason: "not an object"}
	}
	var fullURL string
	if u, ok := e["fullUrl"]; ok && json.Unmarshal(u, &fullURL) != nil {
		return Entry{}, &Error{Entry: i, Path: path + ".fullUrl", Reason: "not a string"}
	}
	res := e["resource"]
	if len(res) == 0 || string(res) == "null" {
		return Entry{}, &Error{Entry: i, Path: path + ".resource", Reason: "entry has no resource"}
	}
	var s BundleSearch
	if m, ok := e["search"]; search && ok && json.Unmarshal(m, &s) != nil {
		return Entry{}, &Error{Entry: i, Path: path + ".search", Reason: "not an object with a mode code"}
	}
	return Entry{Index: i, FullURL: fullURL, SearchMode: s.Mode, JSON: res}, nil
}

// IsBundle reports whether data looks like a Bundle (for input detection).
func IsBundle(data []byte) bool {
	var p struct {
		ResourceType string `json:"resourceType"`
	}
	return json.Unmarshal(data, &p) == nil && p.ResourceType == "Bundle"
}

// Validate parses every entry strictly as version v and returns the resources. The
// first invalid entry (lowest index) makes it fail with an *Error. A resourceType that
// version v does not define (e.g. "Bogus") is invalid: the data would be shown as
// FHIR while it is not. Entries are parsed on all CPUs: the FHIR library is the cost
// of an import.
func Validate(v Version, entries []Entry) ([]Resource, error) {
	out := make([]Resource, len(entries))
	errs := make([]*Error, len(entries))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(entries); i = int(next.Add(1) - 1) {
				out[i], errs[i] = validateOne(v, entries[i])
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]int, len(entries))
	for i, r := range out {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if r.ID != "" {
			key := r.Type + "/" + r.ID
			if first, dup := seen[key]; dup {
				return nil, at(r.Entry, r.Type+".id", fmt.Sprintf("same resource as entry %d", first))
			}
			seen[key] = r.Index
		}
	}
	return out, nil
}

func validateOne(v Version, e Entry) (Resource, *Error) {
	if perr := parseOne(v, e); perr != nil {
		if unknownType(perr) {
			return Resource{}, notAType(v, e)
		}
		return Resource{}, perr
	}
	return inspect(e)
}

func unknownType(e *Error) bool { return strings.HasSuffix(e.Reason, "unknown resource type") }

// notAType is the error for a resourceType the version does not define; the
// type name is from the specification or a typo of it, never patient data.
func notAType(v Version, e Entry) *Error {
	var p struct {
		ResourceType string `json:"resourceType"`
	}
	_ = json.Unmarshal(e.JSON, &p)
	name := p.ResourceType
	if !typePattern.MatchString(name) || len(name) > 64 {
		name = "this"
	}
	return at(e, "resourceType", fmt.Sprintf("%q is not a FHIR %s resource type", name, strings.ToUpper(string(v))))
}

// Detect returns the version in which the entries parse, trying STU3 (what MedMij
// delivers) first, then R4. It parses the first entry of each resource type (the
// versions differ per type, not per instance); Validate then checks every entry. When
// neither version fits, it returns the error of the version that got further.
func Detect(entries []Entry) (Version, error) {
	sample := make([]Entry, 0, 32)
	types := map[string]bool{}
	for _, e := range entries {
		var p struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(e.JSON, &p) != nil || !types[p.ResourceType] {
			types[p.ResourceType] = true
			sample = append(sample, e)
		}
	}
	var best *Error
	for _, v := range []Version{STU3, R4} {
		ok := true
		for _, e := range sample {
			if err := parseOne(v, e); err != nil {
				if unknownType(err) {
					err = notAType(v, e)
				}
				ok = false
				if best == nil || e.Index > best.Entry {
					best = err
				}
				break
			}
		}
		if ok {
			return v, nil
		}
	}
	return "", best
}
