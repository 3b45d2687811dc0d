package fhir

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
)

// idPattern is the FHIR id datatype: [A-Za-z0-9\-\.]{1,64} (STU3 and R4 §2.24.0.1).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// typePattern is a resource type name as used in a relative reference.
var typePattern = regexp.MustCompile(`^[A-Z][A-Za-z]+$`)

// inspect reads what the importer needs from a resource that parsed: type, id, the
// literal references (with paths), and checks every BSN identifier and every local
// ("#id") reference to a contained resource.
func inspect(e Entry) (Resource, *Error) {
	var m map[string]any
	if err := json.Unmarshal(e.JSON, &m); err != nil {
		return Resource{}, at(e, "", "invalid JSON")
	}
	typ, _ := m["resourceType"].(string)
	if !typePattern.MatchString(typ) {
		return Resource{}, at(e, "resourceType", "missing or invalid resourceType")
	}
	r := Resource{Entry: e, Type: typ}
	if id, ok := m["id"]; ok {
		s, _ := id.(string)
		if !idPattern.MatchString(s) {
			return Resource{}, at(e, typ+".id", "not a valid FHIR id")
		}
		r.ID = s
	}
	w := &walker{contained: map[string]containedRes{}}
	if cs, ok := m["contained"].([]any); ok {
		for _, c := range cs {
			if cm, ok := c.(map[string]any); ok {
				if id, ok := cm["id"].(string); ok {
					t, _ := cm["resourceType"].(string)
					w.contained[id] = containedRes{typ: t, bsn: bsnValue(cm)}
				}
			}
		}
	}
	w.walk(typ, m)
	if w.err != nil {
		return Resource{}, at(e, w.err.Path, w.err.Reason)
	}
	r.Refs = w.refs
	if typ == "Patient" {
		r.BSN = bsnValue(m)
	}
	return r, nil
}

// containedRes is what a local reference needs of a contained resource.
type containedRes struct{ typ, bsn string }

// bsnValue returns the BSN of a resource's identifier list ("" when none is
// given or it is masked).
func bsnValue(res map[string]any) string {
	ids, _ := res["identifier"].([]any)
	for _, x := range ids {
		if id, ok := x.(map[string]any); ok && id["system"] == BSNSystem {
			if v, ok := id["value"].(string); ok {
				return v
			}
		}
	}
	return ""
}

type walker struct {
	contained map[string]containedRes
	refs      []Reference
	err       *Error
}

func (w *walker) walk(path string, v any) {
	if w.err != nil {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		w.object(path, x)
	case []any:
		for i, el := range x {
			w.walk(path+"["+strconv.Itoa(i)+"]", el)
		}
	}
}

func (w *walker) object(path string, m map[string]any) {
	if sys, _ := m["system"].(string); sys == BSNSystem {
		if err := checkBSNIdentifier(m); err != nil {
			w.err = &Error{Path: path + ".value", Reason: err.Error()}
			return
		}
	}
	if ref, ok := m["reference"].(string); ok {
		r := Reference{Path: path + ".reference", Value: ref}
		if len(ref) > 1 && ref[0] == '#' {
			c, ok := w.contained[ref[1:]]
			if !ok {
				w.err = &Error{Path: path + ".reference", Reason: "no contained resource has this local id"}
				return
			}
			r.Contained = c.typ
			if c.typ == "Patient" {
				r.BSN = c.bsn
			}
		}
		w.refs = append(w.refs, r)
	} else if id, ok := m["identifier"].(map[string]any); ok && id["system"] == BSNSystem {
		// a logical reference by BSN (Reference.identifier, FHIR STU3/R4)
		if v, ok := id["value"].(string); ok {
			w.refs = append(w.refs, Reference{Path: path + ".identifier", BSN: v})
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first error is always the same one
	for _, k := range keys {
		if k == "reference" || k == "resourceType" {
			continue
		}
		w.walk(path+"."+k, m[k])
	}
}

// checkBSNIdentifier checks an Identifier with the BSN system: either a value that
// passes the elfproef, or no value with a data-absent-reason extension on `_value`
// (a masked BSN, as MedMij sources send it).
func checkBSNIdentifier(m map[string]any) error {
	if v, ok := m["value"]; ok {
		s, _ := v.(string)
		return CheckBSN(s)
	}
	if masked(m) {
		return nil
	}
	return fmt.Errorf("a BSN identifier has neither a value nor a data-absent-reason")
}

// masked reports whether an element's `_value` carries a data-absent-reason.
func masked(m map[string]any) bool {
	pv, _ := m["_value"].(map[string]any)
	exts, _ := pv["extension"].([]any)
	for _, x := range exts {
		if xm, ok := x.(map[string]any); ok && xm["url"] == DataAbsentReason {
			return true
		}
	}
	return false
}

// BSN returns the display form of a Patient's BSN: the number, Masked when the
// source withheld it, or "" when the Patient carries none. It assumes the resource
// was validated (the number passed the elfproef).
func BSN(patientJSON []byte) string {
	var p struct {
		Identifier []map[string]any `json:"identifier"`
	}
	if json.Unmarshal(patientJSON, &p) != nil {
		return ""
	}
	for _, id := range p.Identifier {
		if id["system"] != BSNSystem {
			continue
		}
		if v, ok := id["value"].(string); ok {
			return v
		}
		if masked(id) {
			return Masked
		}
	}
	return ""
}
