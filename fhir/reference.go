package fhir

import (
	"strings"
)

// Unresolved is a literal reference that points at nothing in the set.
type Unresolved struct {
	Entry  Entry
	Path   string
	Target string // "Type/id"
}

// Error describes the dangling reference without its value (ids can hold names).
func (u Unresolved) Error() *Error {
	typ, _, _ := strings.Cut(u.Target, "/")
	return at(u.Entry, u.Path, "reference to a "+typ+" that is neither in the Bundle nor stored")
}

// Unresolved returns the references of res that do not resolve inside res: relative
// references ("Type/id") match a resource's type and id, absolute ones and "urn:uuid:"
// ones match a Bundle.entry.fullUrl (or end in a Type/id of the set), local ones
// ("#id") were already checked against the contained resources, logical ones
// (an identifier, no reference) are not resolved. FHIR STU3/R4 §2.36.4
// (resolving references in Bundles). The caller checks the rest against its store.
func UnresolvedRefs(res []Resource) ([]Unresolved, *Error) {
	byKey := map[string]bool{}
	byURL := map[string]bool{}
	for _, r := range res {
		byKey[r.Type+"/"+r.ID] = true
		if r.FullURL != "" {
			byURL[r.FullURL] = true
		}
	}
	var out []Unresolved
	for _, r := range res {
		for _, ref := range r.Refs {
			v := ref.Value
			if v == "" || strings.HasPrefix(v, "#") || byURL[v] {
				continue
			}
			if strings.HasPrefix(v, "urn:") {
				return nil, at(r.Entry, ref.Path, "no Bundle entry has this fullUrl")
			}
			target, ok := relative(v)
			if !ok {
				return nil, at(r.Entry, ref.Path, "not a resolvable reference (want Type/id, a fullUrl or #id)")
			}
			if !byKey[target] {
				out = append(out, Unresolved{Entry: r.Entry, Path: ref.Path, Target: target})
			}
		}
	}
	return out, nil
}

// relative returns "Type/id" of a relative or absolute RESTful reference
// ([base/]Type/id[/_history/vid]).
func relative(v string) (string, bool) {
	if strings.HasPrefix(v, "urn:") {
		return "", false
	}
	if i := strings.Index(v, "/_history/"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, "/")
	if len(parts) < 2 {
		return "", false
	}
	typ, id := parts[len(parts)-2], parts[len(parts)-1]
	if !typePattern.MatchString(typ) || !idPattern.MatchString(id) {
		return "", false
	}
	if len(parts) > 2 && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return "", false
	}
	return typ + "/" + id, true
}
