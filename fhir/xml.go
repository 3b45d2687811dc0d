package fhir

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
)

// XMLNamespace is the namespace of every FHIR XML element (STU3 and R4 §2.6.3).
const XMLNamespace = "http://hl7.org/fhir"

// ToXML writes the FHIR XML form of a resource given in FHIR JSON (§2.6.3 XML,
// §2.6.2 JSON): the resource type is the root element (with the FHIR namespace),
// every primitive an element with a value attribute, every array a run of elements
// of the same name, a nested resource (Bundle.entry.resource) an element named after
// its type inside the property element. Element order is the JSON key order, which
// our structs keep in the STU3 element order. Primitive extensions (_name) and
// narrative are not written by this endpoint and are rejected.
func ToXML(w io.Writer, resource []byte) error {
	d := json.NewDecoder(bytes.NewReader(resource))
	d.UseNumber()
	if _, err := io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`); err != nil {
		return err
	}
	x := &xmlWriter{d: d, w: w}
	if err := x.expect(json.Delim('{')); err != nil {
		return err
	}
	if err := x.object(""); err != nil {
		return err
	}
	return x.err
}

type xmlWriter struct {
	d   *json.Decoder
	w   io.Writer
	err error
}

func (x *xmlWriter) printf(format string, a ...any) {
	if x.err == nil {
		_, x.err = fmt.Fprintf(x.w, format, a...)
	}
}

func (x *xmlWriter) expect(want json.Delim) error {
	t, err := x.d.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("fhir xml: want %v, got %v", want, t)
	}
	return nil
}

// resource writes an object that holds "resourceType" (first, as we write it) as
// <Type xmlns=...>...</Type>; the opening { and the key "resourceType" have been read.
func (x *xmlWriter) resource() error {
	t, err := x.d.Token()
	typ, ok := t.(string)
	if err != nil || !ok || !typePattern.MatchString(typ) {
		return fmt.Errorf("fhir xml: bad resourceType %v", t)
	}
	x.printf(`<%s xmlns="%s">`, typ, XMLNamespace)
	if err := x.members(); err != nil {
		return err
	}
	x.printf(`</%s>`, typ)
	return x.err
}

// object writes an object whose opening { has been read: a resource when its first
// key is resourceType (the root, Bundle.entry.resource), else the element name.
func (x *xmlWriter) object(name string) error {
	if !x.d.More() {
		_, err := x.d.Token() // }
		x.printf(`<%s/>`, name)
		return err
	}
	k, err := x.d.Token()
	if err != nil {
		return err
	}
	key, _ := k.(string)
	if key == "resourceType" {
		if name == "" {
			return x.resource()
		}
		x.printf(`<%s>`, name)
		if err := x.resource(); err != nil {
			return err
		}
		x.printf(`</%s>`, name)
		return x.err
	}
	if name == "" {
		return fmt.Errorf("fhir xml: resourceType must come first, got %v", k)
	}
	x.printf(`<%s>`, name)
	if err := x.member(key); err != nil {
		return err
	}
	if err := x.members(); err != nil {
		return err
	}
	x.printf(`</%s>`, name)
	return x.err
}

// members writes the members of an object up to and including its closing }.
func (x *xmlWriter) members() error {
	for x.d.More() {
		k, err := x.d.Token()
		if err != nil {
			return err
		}
		name, _ := k.(string)
		if err := x.member(name); err != nil {
			return err
		}
	}
	_, err := x.d.Token() // }
	return err
}

func (x *xmlWriter) member(name string) error {
	if name == "" || name[0] == '_' {
		return fmt.Errorf("fhir xml: member %q is not supported", name)
	}
	return x.value(name)
}

// value writes the value of member name: an array as repeated elements.
func (x *xmlWriter) value(name string) error {
	t, err := x.d.Token()
	if err != nil {
		return err
	}
	if t == json.Delim('[') {
		for x.d.More() {
			t, err := x.d.Token()
			if err != nil {
				return err
			}
			if err := x.one(name, t); err != nil {
				return err
			}
		}
		_, err := x.d.Token() // ]
		return err
	}
	return x.one(name, t)
}

// one writes a single value whose first token is t.
func (x *xmlWriter) one(name string, t json.Token) error {
	switch v := t.(type) {
	case json.Delim:
		if v != '{' {
			return fmt.Errorf("fhir xml: nested array in %s", name)
		}
		return x.object(name)
	case string:
		x.printf(`<%s value="%s"/>`, name, escapeAttr(v))
	case json.Number:
		x.printf(`<%s value="%s"/>`, name, v.String())
	case bool:
		x.printf(`<%s value="%s"/>`, name, strconv.FormatBool(v))
	case nil:
		return fmt.Errorf("fhir xml: null in %s", name)
	}
	return x.err
}

func escapeAttr(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // never fails on a bytes.Buffer
	return b.String()
}
