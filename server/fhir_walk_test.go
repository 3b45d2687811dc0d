package server

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// validSTU3 parses body strictly as an STU3 resource with the FHIR library.
func validSTU3(t testing.TB, body []byte) {
	t.Helper()
	if _, err := fhir.Validate(fhir.STU3, []fhir.Entry{{JSON: body}}); err != nil {
		t.Fatalf("not valid STU3: %v\n%.600s", err, body)
	}
}

// walkRules asserts the rules of Nictiz's XIS-Server scripts and the issue on a
// FHIR JSON body: meta.profile on every resource but Binary/OperationOutcome/Bundle/
// CapabilityStatement, fullUrls absolute and ending in the id, system and code on
// every Coding, display or text on every CodeableConcept, display on every
// Reference, system and value on every Identifier.
func walkRules(t testing.TB, body []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var errs []string
	walkResource(m, "", &errs)
	if len(errs) > 0 {
		t.Fatalf("rule violations:\n%s", strings.Join(errs, "\n"))
	}
}

// Elements by datatype in what this endpoint writes (STU3 definitions).
var (
	codeableConcepts = map[string]bool{"type": true, "details": true, "service": true, "class": true}
	references       = map[string]bool{"subject": true, "author": true, "profile": true, "custodian": true}
	identifiers      = map[string]bool{"masterIdentifier": true, "identifier": true}
)

func walkResource(m map[string]any, path string, errs *[]string) {
	typ, _ := m["resourceType"].(string)
	switch typ {
	case "Bundle", "Binary", "OperationOutcome", "CapabilityStatement":
	default:
		meta, _ := m["meta"].(map[string]any)
		if meta == nil || meta["profile"] == nil {
			*errs = append(*errs, path+typ+": no meta.profile")
		}
	}
	if typ == "Bundle" {
		for i, e := range asList(m["entry"]) {
			em, _ := e.(map[string]any)
			res, _ := em["resource"].(map[string]any)
			full, _ := em["fullUrl"].(string)
			id, _ := res["id"].(string)
			if !strings.HasPrefix(full, "https://") || id == "" || !strings.HasSuffix(full, "/"+id) {
				*errs = append(*errs, fmt.Sprintf("entry[%d]: fullUrl %q does not end in id %q or is not absolute", i, full, id))
			}
			walkResource(res, fmt.Sprintf("entry[%d].", i), errs)
		}
	}
	walkValue(typ, m, path+typ, errs)
}

func walkValue(name string, v any, path string, errs *[]string) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			walkValue(name, e, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case map[string]any:
		if _, isRes := x["resourceType"]; isRes && name == "resource" {
			return // walked by walkResource
		}
		switch {
		case name == "coding":
			if x["system"] == nil || x["code"] == nil {
				*errs = append(*errs, path+": Coding without system or code")
			}
		case codeableConcepts[name]:
			if x["text"] == nil && !hasDisplay(x["coding"]) {
				*errs = append(*errs, path+": CodeableConcept without display or text")
			}
		case references[name]:
			if x["display"] == nil {
				*errs = append(*errs, path+": Reference without display")
			}
		case identifiers[name]:
			if x["system"] == nil || x["value"] == nil {
				*errs = append(*errs, path+": Identifier without system or value")
			}
		}
		for k, e := range x {
			walkValue(k, e, path+"."+k, errs)
		}
	}
}

func hasDisplay(v any) bool {
	for _, c := range asList(v) {
		if cm, ok := c.(map[string]any); ok && cm["display"] != nil {
			return true
		}
	}
	return false
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

var nineDigits = regexp.MustCompile(`\d{9,}`)

// noBSN asserts that no BSN (the NamingSystem, or any nine digits passing the
// elfproef) appears in a body or a header.
func noBSN(t testing.TB, body []byte, h http.Header) {
	t.Helper()
	var all strings.Builder
	all.Write(body)
	for k, vs := range h {
		fmt.Fprintf(&all, "\n%s: %s", k, strings.Join(vs, ","))
	}
	s := all.String()
	if strings.Contains(s, "NamingSystem/bsn") {
		t.Fatal("the BSN naming system appears in the response")
	}
	for _, d := range nineDigits.FindAllString(s, -1) {
		if len(d) == 9 && fhir.CheckBSN(d) == nil {
			t.Fatalf("a BSN-like number %s appears in the response", d)
		}
	}
}

// canon reduces FHIR JSON or FHIR XML to one form, so that the two can be compared:
// every element a list of values, primitives as strings, a nested resource as an
// object with its resourceType.
func canonJSON(t testing.TB, body []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return canonJ(v)
}

func canonJ(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string][]any{}
		for k, e := range x {
			for _, item := range asList(e) {
				out[k] = append(out[k], canonJ(item))
			}
		}
		return out
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	}
	return v
}

type xnode struct {
	name     string
	value    *string
	children []*xnode
}

func canonXML(t testing.TB, body []byte) any {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(body)))
	var stack []*xnode
	root := &xnode{}
	stack = append(stack, root)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Space != fhir.XMLNamespace {
				t.Fatalf("element %s outside the FHIR namespace", el.Name.Local)
			}
			n := &xnode{name: el.Name.Local}
			for _, a := range el.Attr {
				if a.Name.Local == "value" {
					v := a.Value
					n.value = &v
				}
			}
			top := stack[len(stack)-1]
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(root.children) != 1 {
		t.Fatalf("%d root elements", len(root.children))
	}
	return canonX(root.children[0], true)
}

func canonX(n *xnode, isResource bool) any {
	if n.value != nil {
		return *n.value
	}
	out := map[string][]any{}
	if isResource {
		out["resourceType"] = []any{n.name}
	}
	for _, c := range n.children {
		if c.name == "resource" && len(c.children) == 1 && c.children[0].name[0] >= 'A' && c.children[0].name[0] <= 'Z' {
			out["resource"] = append(out["resource"], canonX(c.children[0], true))
			continue
		}
		out[c.name] = append(out[c.name], canonX(c, false))
	}
	return out
}

// sameContent asserts that a JSON and an XML body hold the same resource, leaving
// out the top-level members named in skip (e.g. a searchset's own id and time).
func sameContent(t testing.TB, jsonBody, xmlBody []byte, skip ...string) {
	t.Helper()
	j, x := canonJSON(t, jsonBody).(map[string][]any), canonXML(t, xmlBody).(map[string][]any)
	for _, k := range skip {
		delete(j, k)
		delete(x, k)
	}
	if !reflect.DeepEqual(j, x) {
		t.Fatalf("XML and JSON differ:\njson %v\nxml  %v", j, x)
	}
}
