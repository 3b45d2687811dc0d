package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// metadata answers GET [base]/metadata with the CapabilityStatement of exactly what
// this endpoint does (STU3 capabilitystatement.html, http.html#capabilities): FHIR
// 3.0.2 in JSON and XML, DocumentReference search (status, indexed) and read, Binary
// read, OAuth2 bearer tokens bound to the client certificate.
func (a *fhirAPI) metadata(c echo.Context) error {
	f, ok := negotiate(c.Request(), false)
	if !ok {
		return writeOutcome(c, http.StatusNotAcceptable, "not-supported", "_format: use json or xml.")
	}
	return writeResource(c, http.StatusOK, f, a.capabilities())
}

func (a *fhirAPI) capabilities() fhir.CapabilityStatement {
	name := a.d.Exports.Source()
	read := []fhir.CapabilityInteraction{{Code: "read"}}
	return fhir.CapabilityStatement{
		URL:         a.base + "/metadata",
		Name:        "PGOKoppelvlakBron",
		Title:       "Gegevensdienst 51 (Verzamelen Documenten 3.0, PDF/A) van " + name,
		Status:      "active",
		Date:        time.Now().UTC().Format("2006-01-02"),
		Publisher:   name,
		Description: "Bronrol van het PGO-koppelvlak: het dossier van de patiënt als PDF/A, na eenmalige toestemming.",
		Kind:        "instance",
		Software:    &fhir.CapabilitySoftware{Name: "pgo"},
		Implementation: &fhir.CapabilityImplementation{
			Description: name + " (MedMij gegevensdienst 51)", URL: a.base,
		},
		FHIRVersion:   "3.0.2",
		AcceptUnknown: "no",
		Format:        []string{"json", "xml", mimeFHIRJSON, mimeFHIRXML},
		Rest: []fhir.CapabilityRest{{
			Mode:          "server",
			Documentation: "Every request needs mutual TLS and an OAuth2 bearer token bound to the client certificate (RFC 8705). Binary without Prefer: respond-async waits for a document that is still rendering, with it answers 202 + Retry-After.",
			Security: &fhir.CapabilitySecurity{
				Service: []fhir.CodeableConcept{{
					Coding: []fhir.Coding{{System: "http://hl7.org/fhir/restful-security-service", Code: "OAuth", Display: "OAuth"}},
					Text:   "OAuth2 (MedMij)",
				}},
				Description: "MedMij OAuth2 authorization code flow; access tokens are JWTs (RFC 9068) bound to the client certificate.",
			},
			Resource: []fhir.CapabilityResource{
				{
					Type:        "DocumentReference",
					Profile:     &fhir.Ref{Reference: fhir.DocumentReferenceProfile, Display: "IHE.MHD.Minimal.DocumentReference"},
					Interaction: []fhir.CapabilityInteraction{{Code: "search-type"}, {Code: "read"}},
					SearchParam: []fhir.CapabilitySearchParam{
						{Name: "status", Definition: "http://hl7.org/fhir/SearchParameter/DocumentReference-status", Type: "token"},
						{Name: "indexed", Definition: "http://hl7.org/fhir/SearchParameter/DocumentReference-indexed", Type: "date"},
					},
				},
				{Type: "Binary", Interaction: read, Documentation: "The PDF/A document (Accept: application/pdf) or a Binary resource (FHIR JSON or XML); Range for the PDF."},
			},
		}},
	}
}
