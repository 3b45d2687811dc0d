package fhir

import (
	"encoding/json"
	"fmt"
)

// What we write on the PGO-koppelvlak (MedMij STU3 portability package,
// medmij.fhir.nl.stu3.portability): a DocumentReference per document and the Binary
// that carries it. Plain structs: the FHIR library is for inbound validation only.

// Profile and type of the DocumentReference a source PGO returns for
// GET [base]/DocumentReference?status=current.
const (
	DocumentReferenceProfile = "http://nictiz.nl/fhir/StructureDefinition/IHE.MHD.Minimal.DocumentReference"
	SNOMEDSystem             = "http://snomed.info/sct"
	TransferReportCode       = "371535009" // SNOMED CT "verslag van overdracht" (transfer summary report)
	TransferReportDisplay    = "verslag van overdracht"
	RFC3986System            = "urn:ietf:rfc:3986"
)

// Meta is Resource.meta (STU3 §2.23.1).
type Meta struct {
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
}

// Identifier is the STU3 Identifier datatype (the parts we use).
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Coding is the STU3 Coding datatype.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is the STU3 CodeableConcept datatype.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Ref is the STU3 Reference datatype.
type Ref struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// Attachment is the STU3 Attachment datatype. Size and Hash (base64 SHA-1 in STU3)
// are optional on the koppelvlak; Binary/<id> in URL points at the document.
type Attachment struct {
	ContentType string `json:"contentType,omitempty"`
	Language    string `json:"language,omitempty"`
	URL         string `json:"url,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Hash        []byte `json:"hash,omitempty"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

// DocumentContent is DocumentReference.content.
type DocumentContent struct {
	Attachment Attachment `json:"attachment"`
}

// DocumentReference is the STU3 DocumentReference with the IHE MHD Minimal profile
// (http://hl7.org/fhir/STU3/documentreference.html; required: status, type, indexed,
// content). ResourceType is set by MarshalJSON.
//
// Fields are in the STU3 element order, so that the XML form (ToXML) is valid: FHIR
// XML requires the order of the definition, JSON does not care.
type DocumentReference struct {
	ID               string            `json:"id,omitempty"`
	Meta             *Meta             `json:"meta,omitempty"`
	MasterIdentifier *Identifier       `json:"masterIdentifier,omitempty"`
	Status           string            `json:"status"`
	Type             CodeableConcept   `json:"type"`
	Subject          *Ref              `json:"subject,omitempty"`
	Created          string            `json:"created,omitempty"`
	Indexed          string            `json:"indexed"`
	Author           []Ref             `json:"author,omitempty"`
	Description      string            `json:"description,omitempty"`
	Content          []DocumentContent `json:"content"`
}

// Binary is the STU3 Binary: the document base64-encoded in `content` (R4 renamed it
// `data`), http://hl7.org/fhir/STU3/binary.html. The FHIR endpoint streams large
// Binaries itself (server/fhirbinary.go); this struct is for small ones and parsing.
type Binary struct {
	ID          string `json:"id,omitempty"`
	ContentType string `json:"contentType"`
	Content     []byte `json:"content"`
}

// NewTransferDocumentReference builds the DocumentReference for one rendered dossier
// PDF as the MedMij portability example shows it.
func NewTransferDocumentReference(id, binaryID, patientRef, title, uuidURN, indexed string) DocumentReference {
	return DocumentReference{
		ID:               id,
		Meta:             &Meta{Profile: []string{DocumentReferenceProfile}},
		Status:           "current",
		Indexed:          indexed,
		MasterIdentifier: &Identifier{System: RFC3986System, Value: uuidURN},
		Type:             CodeableConcept{Coding: []Coding{{System: SNOMEDSystem, Code: TransferReportCode, Display: TransferReportDisplay}}},
		Subject:          &Ref{Reference: patientRef},
		Content: []DocumentContent{{Attachment: Attachment{
			ContentType: "application/pdf", URL: "Binary/" + binaryID, Title: title,
		}}},
	}
}

type docRefJSON DocumentReference
type binaryJSON Binary

// MarshalJSON writes resourceType first, as FHIR JSON (§2.6.2) expects.
func (d DocumentReference) MarshalJSON() ([]byte, error) {
	return withType("DocumentReference", docRefJSON(d))
}

// UnmarshalJSON checks resourceType.
func (d *DocumentReference) UnmarshalJSON(b []byte) error {
	return readTyped(b, "DocumentReference", (*docRefJSON)(d))
}

// MarshalJSON writes resourceType first.
func (b Binary) MarshalJSON() ([]byte, error) { return withType("Binary", binaryJSON(b)) }

// UnmarshalJSON checks resourceType.
func (b *Binary) UnmarshalJSON(data []byte) error {
	return readTyped(data, "Binary", (*binaryJSON)(b))
}

func withType(typ string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := []byte(`{"resourceType":"` + typ + `"`)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

func readTyped(b []byte, typ string, v any) error {
	var p struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.ResourceType != typ {
		return fmt.Errorf("resourceType is %q, want %s", p.ResourceType, typ)
	}
	return json.Unmarshal(b, v)
}
