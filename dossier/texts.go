package dossier

import (
	"sort"
	"strings"
)

// Field is one human-readable element of a resource that no column of its section
// shows: the document lists it under the item with a Dutch label (the generic
// fallback of PGOK-FR022: nothing the source sent is dropped).
type Field struct {
	Label string
	Value string
}

// textKeys are the FHIR elements whose string values a person reads: displays,
// texts, comments, notes (Annotation.text), descriptions, string values (also
// inside extensions), names, address parts and units. Codes, ids, URIs,
// identifiers (a BSN is one) and dates are not in the set: a renderer shows them
// in its own form.
var textKeys = map[string]bool{
	"display": true, "text": true, "comment": true, "description": true, "valueString": true,
	"patientInstruction": true, "conclusion": true, "title": true, "name": true, "family": true,
	"given": true, "prefix": true, "suffix": true, "line": true, "city": true, "district": true,
	"postalCode": true, "unit": true, "alias": true,
}

// skipKeys are subtrees without text for a reader: the narrative (its XHTML
// repeats the structured data) and metadata.
var skipKeys = map[string]bool{"div": true, "meta": true}

// Text is one collected string with the element it came from.
type Text struct {
	Path  []string // element names from the resource root (array indexes left out)
	Value string
}

// collect returns every human-readable string of a resource (see textKeys), in a
// stable order, with its element path. Contained resources and extensions are
// walked too: values inside extensions count.
func collect(n node) []Text {
	var out []Text
	walkTexts(n, nil, &out)
	return out
}

func walkTexts(n node, path []string, out *[]Text) {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if skipKeys[k] || (k == "resourceType" && len(path) == 0) {
			continue
		}
		p := append(path[:len(path):len(path)], k)
		switch v := n[k].(type) {
		case map[string]any:
			walkTexts(v, extPath(p, v), out)
		case []any:
			for _, el := range v {
				switch e := el.(type) {
				case map[string]any:
					walkTexts(e, extPath(p, e), out)
				case string:
					addText(k, p, e, out)
				}
			}
		case string:
			addText(k, p, v, out)
		}
	}
}

// extPath names an extension by its URL (the last path segment of it), so that a
// value inside an extension gets a label that says what it is.
func extPath(p []string, obj map[string]any) []string {
	last := p[len(p)-1]
	if last != "extension" && last != "modifierExtension" {
		return p
	}
	url, _ := obj["url"].(string)
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	return append(p[:len(p)-1:len(p)-1], "extension:"+url)
}

func addText(key string, path []string, v string, out *[]Text) {
	if !textKeys[key] || strings.TrimSpace(v) == "" {
		return
	}
	*out = append(*out, Text{Path: path, Value: strings.TrimSpace(v)})
}

// Texts returns the human-readable strings of a FHIR resource (JSON) as the
// export must show them; for tests and tools that check a document against its
// source.
func Texts(resourceJSON []byte) ([]string, error) {
	n, err := decode(resourceJSON)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range collect(n) {
		out = append(out, t.Value)
	}
	return out, nil
}
