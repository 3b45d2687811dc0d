package fhir

import (
	"encoding/json"
	"fmt"
	"strings"
)

// BundleTypes we import: a transaction (what a client posts), a collection (an export)
// and a searchset (what a gegevensdienst answers to a search), FHIR STU3/R4 §2.36.
var BundleTypes = map[string]bool{"transaction": true, "collection": true, "searchset": true}

// ReadBundle splits a Bundle into its entries without validating them, so that each
// entry can be validated (and reported) on its own. It checks the envelope: a Bundle of
// an accepted type, every entry with a resource.
func ReadBundle(data []byte) (bundleType string, entries []Entry, err error) {
	env := Entry{Index: -1}
	if err := syntaxCheck(data); err != nil {
		return "", nil, at(env, "", err.Error())
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return "", nil, at(env, "Bundle", "not a Bundle: "+err.Error())
	}
	if b.ResourceType != "Bundle" {
		return "", nil, at(env, "resourceType", "expected a Bundle")
	}
	if !BundleTypes[b.Type] {
		return "", nil, at(env, "Bundle.type", fmt.Sprintf("type %q is not imported (use transaction, collection or searchset)", b.Type))
	}
	for i, e := range b.Entry {
		if len(e.Resource) == 0 || string(e.Resource) == "null" {
			return "", nil, &Error{Entry: i, Path: fmt.Sprintf("Bundle.entry[%d].resource", i), Reason: "entry has no resource"}
		}
		entries = append(entries, Entry{Index: i, FullURL: e.FullURL, JSON: e.Resource})
	}
	return b.Type, entries, nil
}

// IsBundle reports whether data looks like a Bundle (for input detection).
func IsBundle(data []byte) bool {
	var p struct {
		ResourceType string `json:"resourceType"`
	}
	return json.Unmarshal(data, &p) == nil && p.ResourceType == "Bundle"
}

// Validate parses every entry strictly as version v and returns the resources. The
// first invalid entry stops it with an *Error. Resource types the FHIR library does not
// know for v are kept (Known false) after the structural checks, so nothing is dropped.
func Validate(v Version, entries []Entry) ([]Resource, error) {
	out := make([]Resource, 0, len(entries))
	seen := map[string]int{}
	for _, e := range entries {
		if perr := parseOne(v, e); perr != nil && !unknownType(perr) {
			return nil, perr
		}
		r, ierr := inspect(e)
		if ierr != nil {
			return nil, ierr
		}
		if r.ID != "" {
			key := r.Type + "/" + r.ID
			if first, dup := seen[key]; dup {
				return nil, at(e, r.Type+".id", fmt.Sprintf("same resource as entry %d", first))
			}
			seen[key] = e.Index
		}
		out = append(out, r)
	}
	return out, nil
}

func unknownType(e *Error) bool { return strings.HasSuffix(e.Reason, "unknown resource type") }

// Detect returns the version in which every entry parses, trying STU3 (what MedMij
// delivers) first, then R4. When neither fits, it returns the error of the version
// that got further, so the caller sees the most plausible reason.
func Detect(entries []Entry) (Version, error) {
	var best *Error
	for _, v := range []Version{STU3, R4} {
		failed := -1
		for _, e := range entries {
			if err := parseOne(v, e); err != nil && !unknownType(err) {
				failed = e.Index
				if best == nil || e.Index > best.Entry {
					best = err
				}
				break
			}
		}
		if failed < 0 {
			return v, nil
		}
	}
	return "", best
}
