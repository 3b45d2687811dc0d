package dossier

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Amsterdam on hosts without a zoneinfo database
)

// node is a decoded JSON object of a FHIR resource, read leniently: the resource was
// validated on import, and a summary shows what is there, in STU3 or R4 shape.
type node map[string]any

func decode(b []byte) (node, error) {
	if n, ok := scanObject(b); ok {
		return n, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keep "7.20" as written: FHIR decimals carry their precision
	var n node
	err := d.Decode(&n)
	return n, err
}

func asNode(v any) node {
	m, _ := v.(map[string]any)
	return m
}

func (n node) get(key string) node { return asNode(n[key]) }

func (n node) list(key string) []node {
	arr, _ := n[key].([]any)
	out := make([]node, 0, len(arr))
	for _, v := range arr {
		if m := asNode(v); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func (n node) first(key string) node {
	if l := n.list(key); len(l) > 0 {
		return l[0]
	}
	return n.get(key) // 0..1 in one version, 0..* in the other
}

// str returns a primitive as text: strings, numbers (Dutch decimal comma), booleans.
func (n node) str(key string) string {
	switch v := n[key].(type) {
	case string:
		return v
	case json.Number:
		return strings.Replace(v.String(), ".", ",", 1)
	case bool:
		if v {
			return "ja"
		}
		return "nee"
	}
	return ""
}

// concept shows a CodeableConcept (or a Coding): its text, else the display of its
// first coding that has one, else the first code.
func concept(n node) string {
	if n == nil {
		return ""
	}
	if t := n.str("text"); t != "" {
		return t
	}
	if d := n.str("display"); d != "" {
		return d
	}
	codings := n.list("coding")
	for _, c := range codings {
		if d := c.str("display"); d != "" {
			return d
		}
	}
	for _, c := range codings {
		if c := c.str("code"); c != "" {
			return c
		}
	}
	return n.str("code")
}

// concepts joins the concepts of a repeating CodeableConcept element.
func (n node) concepts(key string) string {
	var parts []string
	for _, c := range n.list(key) {
		parts = append(parts, concept(c))
	}
	if len(parts) == 0 {
		return concept(n.get(key))
	}
	return join(", ", parts...)
}

// amsterdam is the zone a Dutch reader reads times in, whatever zone the source
// wrote them in.
var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic("dossier: Europe/Amsterdam: " + err.Error()) // time/tzdata is embedded
	}
	return loc
}()

// dateNL shows a FHIR date or dateTime as a Dutch date: dd-mm-jjjj, mm-jjjj or
// jjjj. A dateTime with a zone (FHIR requires one when a time is given) is shown
// in Amsterdam time, with hh:mm unless that is midnight (a date sent as a time):
// "2022-05-14T23:00:00+00:00" is "15-05-2022 01:00". Without a zone the time is
// shown as written.
func dateNL(s string) string {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = t.In(amsterdam)
		if t.Hour() == 0 && t.Minute() == 0 {
			return t.Format("02-01-2006")
		}
		return t.Format("02-01-2006 15:04")
	}
	d, tm, _ := strings.Cut(s, "T")
	parts := strings.Split(d, "-")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	out := strings.Join(parts, "-")
	if len(tm) >= 5 && tm[:5] != "00:00" {
		out += " " + tm[:5]
	}
	return out
}

// period shows a Period as "dd-mm-jjjj t/m dd-mm-jjjj" or "vanaf dd-mm-jjjj".
func period(p node) string {
	start, end := dateNL(p.str("start")), dateNL(p.str("end"))
	switch {
	case start != "" && end != "" && start == end:
		return start
	case start != "" && end != "":
		return start + " t/m " + end
	case start != "":
		return "vanaf " + start
	case end != "":
		return "t/m " + end
	}
	return ""
}

// quantity shows a Quantity as "7,2 mmol/L" (unit, else UCUM code).
func quantity(q node) string {
	if q == nil {
		return ""
	}
	v := q.str("value")
	if v == "" {
		return ""
	}
	unit := q.str("unit")
	if unit == "" {
		unit = q.str("code")
	}
	return join(" ", q.str("comparator")+v, unit)
}

// rangeNL shows a Range or Observation.referenceRange as "7,4 - 9,9 mmol/L".
func rangeNL(r node) string {
	lo, hi := r.get("low"), r.get("high")
	switch {
	case lo != nil && hi != nil:
		return join(" ", lo.str("value")+" - "+hi.str("value"), unitOf(hi))
	case lo != nil:
		return "≥ " + quantity(lo)
	case hi != nil:
		return "≤ " + quantity(hi)
	}
	return r.str("text")
}

func unitOf(q node) string {
	if u := q.str("unit"); u != "" {
		return u
	}
	return q.str("code")
}

// humanName shows a HumanName: its text, else the given names and the family name.
// Dutch names (zib NameInformation) mark each given name with an ISO 21090 EN
// qualifier in _given: BR (first names), CL (call name), IN (initials). Listing all
// three repeats the person ("Anouk A. Anouk"), so the first names are shown, else
// the call name, else the initials; unqualified names are shown as they are.
func humanName(n node) string {
	if n == nil {
		return ""
	}
	if t := n.str("text"); t != "" {
		return t
	}
	byQualifier := map[string][]string{}
	var plain []string
	quals, _ := n["_given"].([]any) // index-aligned with given; null where a name has none
	for i, g := range asStrings(n["given"]) {
		q := ""
		if i < len(quals) {
			for _, ext := range asNode(quals[i]).list("extension") {
				if strings.HasSuffix(ext.str("url"), "iso21090-EN-qualifier") {
					q = ext.str("valueCode")
				}
			}
		}
		if q == "" {
			plain = append(plain, g)
		} else {
			byQualifier[q] = append(byQualifier[q], g)
		}
	}
	given := plain
	for _, q := range []string{"BR", "CL", "IN"} {
		if len(given) == 0 {
			given = byQualifier[q]
		}
	}
	return join(" ", strings.Join(given, " "), n.str("family"))
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// firstOf returns the first non-empty string.
func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// notes joins Annotation texts.
func (n node) notes(key string) string {
	var parts []string
	for _, a := range n.list(key) {
		parts = append(parts, a.str("text"))
	}
	return join("; ", parts...)
}
