package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// ToXML writes FHIR XML (§2.6.3): the root named after the resource type in the
// FHIR namespace, primitives as value attributes (escaped), arrays as repeated
// elements, nested resources inside their property element, numbers and booleans
// as written; it refuses what it cannot write faithfully.
func TestToXML(t *testing.T) {
	total := 1
	b := Bundle{Type: "searchset", Total: &total, Link: []BundleLink{{Relation: "self", URL: "https://x/51/fhir/DocumentReference?a=1&b=<2>"}}}
	dr, _ := json.Marshal(NewTransferDocumentReference("d1", "d1", "Patient/p", `Dossier "A" & B`, "urn:uuid:3f9c1d6e-8a4b-4e2a-9c3d-2f1b7e8c9d12", "2026-01-07T12:00:00+02:00"))
	b.Entry = []BundleEntry{{FullURL: "https://x/51/fhir/DocumentReference/d1", Resource: dr, Search: &BundleSearch{Mode: "match"}}}
	body, _ := json.Marshal(b)
	var out bytes.Buffer
	if err := ToXML(&out, body); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`<?xml version="1.0" encoding="UTF-8"?><Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/><total value="1"/>`,
		`<url value="https://x/51/fhir/DocumentReference?a=1&amp;b=&lt;2&gt;"/>`,
		`<resource><DocumentReference xmlns="http://hl7.org/fhir"><id value="d1"/><meta><profile value="` + DocumentReferenceProfile + `"/></meta>`,
		`<title value="Dossier &#34;A&#34; &amp; B"/>`,
		`</DocumentReference></resource><search><mode value="match"/></search></entry></Bundle>`,
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("missing %s in\n%s", w, out.String())
		}
	}
	// CapabilityStatement.rest.resource is an element, not a nested resource.
	cs, _ := json.Marshal(CapabilityStatement{Status: "active", Date: "2026-12-03", Kind: "instance", FHIRVersion: "3.0.2", AcceptUnknown: "no",
		Format: []string{"json", "xml"}, Rest: []CapabilityRest{{Mode: "server", Resource: []CapabilityResource{{Type: "Binary", Interaction: []CapabilityInteraction{{Code: "read"}}}}}}})
	out.Reset()
	if err := ToXML(&out, cs); err != nil || !strings.Contains(out.String(), `<format value="json"/><format value="xml"/><rest><mode value="server"/><resource><type value="Binary"/><interaction><code value="read"/></interaction></resource></rest>`) {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, bad := range []string{`{"id":"x"}`, `{"resourceType":"Patient","_birthDate":{"extension":[]}}`, `{"resourceType":"Patient","active":null}`, `[1]`} {
		if err := ToXML(&bytes.Buffer{}, []byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
