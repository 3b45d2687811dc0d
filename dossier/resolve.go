package dossier

import "strings"

// resolver shows references: their display, else something readable of the target.
type resolver struct{ byRef map[string]node }

func newResolver(res []openRow) *resolver {
	r := &resolver{byRef: make(map[string]node, len(res))}
	for _, o := range res {
		r.byRef[o.Type+"/"+o.n.str("id")] = o.n
	}
	return r
}

// ref shows a Reference: its display, else what the target says it is. A
// literal reference resolves within the dossier as "Type/id", also when it is
// absolute ([base]/Type/id), FHIR §2.3.0 (references).
func (r *resolver) ref(ref node) string {
	if d := ref.str("display"); d != "" {
		return d
	}
	v := ref.str("reference")
	t := r.byRef[v]
	if t == nil {
		if parts := strings.Split(v, "/"); len(parts) > 2 {
			t = r.byRef[strings.Join(parts[len(parts)-2:], "/")]
		}
	}
	return describe(t)
}

// describe says what a resource is, for a reference to it: its code or type, a
// name (HumanName, string, or a Device's deviceName / udi name).
func describe(t node) string {
	if t == nil {
		return ""
	}
	return firstOf(concept(t.get("code")), concept(t.get("type")), t.str("name"), humanName(t.first("name")),
		t.first("deviceName").str("name"), t.get("udi").str("name"), t.str("description"))
}

func (r *resolver) medication(ref node) string {
	if t := r.byRef[ref.str("reference")]; t != nil {
		if c := concept(t.get("code")); c != "" {
			return c
		}
	}
	return ref.str("display")
}

// address shows an Address (zib AddressInformation): text or lines, postal code,
// city, municipality, country (the zib's country name when a code-specification
// gives one) and the address type (an extension), e.g. "Knolweg 11 A-G 9999ZA
// Stitswerd, Het Hogeland, Nederland (Werkadres)".
func address(a node) string {
	if a == nil {
		return ""
	}
	country := firstOf(codeSpec(a.get("_country")), a.str("country"))
	return join(" ", join(", ", join(" ", a.str("text"), joinLines(a), a.str("postalCode"), a.str("city")),
		a.str("district"), country), paren(extValues(a)))
}

// contactPoint shows a ContactPoint: the value and its type (an extension, zib
// TelecomType) or use.
func contactPoint(c node) string {
	return join(" ", c.str("value"), paren(firstOf(extValues(c), c.str("use"))))
}

// extValues joins the coded or string values of an element's extensions.
func extValues(n node) string {
	var out []string
	for _, x := range n.list("extension") {
		out = append(out, firstOf(concept(x.get("valueCodeableConcept")), concept(x.get("valueCoding")), x.str("valueString")))
	}
	return join(", ", out...)
}

// contactDetails shows the addresses and contact points of a person or organisation.
func contactDetails(n node) string {
	var parts []string
	for _, a := range n.list("address") {
		parts = append(parts, address(a))
	}
	for _, c := range n.list("telecom") {
		parts = append(parts, contactPoint(c))
	}
	return join("; ", parts...)
}
