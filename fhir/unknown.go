package fhir

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// nameUnknownField improves the FHIR library's "unknown field" (which does not say
// which one): it removes the keys of the object at the reported path one at a time and
// reparses; the key whose removal clears the error is the unknown one. It runs only
// on the error path and costs one parse per key of that object. Keys are element names
// from the specification or typos of them, never patient data.
func nameUnknownField(v Version, e Entry, perr *Error) *Error {
	var doc map[string]any
	if json.Unmarshal(e.JSON, &doc) != nil {
		return perr
	}
	obj := lookup(doc, perr.Path)
	if obj == nil {
		return perr
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "resourceType" {
			continue
		}
		val := obj[k]
		delete(obj, k)
		b, err := json.Marshal(doc)
		obj[k] = val
		if err != nil {
			return perr
		}
		again := parseStrict(v, Entry{Index: e.Index, Source: e.Source, JSON: b})
		if again == nil || again.Path != perr.Path || again.Reason != perr.Reason {
			return &Error{Entry: perr.Entry, Source: perr.Source, Path: perr.Path + "." + k,
				Reason: fmt.Sprintf("unknown element %q in FHIR %s", k, strings.ToUpper(string(v)))}
		}
	}
	return perr
}

// lookup returns the JSON object at a FHIR path such as "Patient.name[0]".
func lookup(doc map[string]any, path string) map[string]any {
	parts := strings.Split(path, ".")
	cur := any(doc)
	for _, p := range parts[1:] {
		name, idx := p, -1
		if i := strings.IndexByte(p, '['); i > 0 && strings.HasSuffix(p, "]") {
			name = p[:i]
			n, err := strconv.Atoi(p[i+1 : len(p)-1])
			if err != nil {
				return nil
			}
			idx = n
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[name]
		if idx >= 0 {
			arr, ok := cur.([]any)
			if !ok || idx >= len(arr) {
				return nil
			}
			cur = arr[idx]
		}
	}
	m, _ := cur.(map[string]any)
	return m
}
