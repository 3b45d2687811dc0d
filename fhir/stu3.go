package fhir

import "encoding/json"

// The other STU3 resources the source role's FHIR endpoint (gegevensdienst 51) writes:
// the searchset Bundle, OperationOutcome and CapabilityStatement. Fields are in STU3
// element order so that ToXML writes valid FHIR XML.

// BundleLink is Bundle.link (STU3 §2.36: relation and url).
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleSearch is Bundle.entry.search: why the entry is in a searchset.
type BundleSearch struct {
	Mode string `json:"mode,omitempty"` // match | include | outcome
}

// BundleEntry is one entry of a searchset: an absolute fullUrl ending in the id.
type BundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *BundleSearch   `json:"search,omitempty"`
}

// Bundle is an STU3 Bundle (http://hl7.org/fhir/STU3/bundle.html).
type Bundle struct {
	ID    string        `json:"id,omitempty"`
	Meta  *Meta         `json:"meta,omitempty"`
	Type  string        `json:"type"`
	Total *int          `json:"total,omitempty"`
	Link  []BundleLink  `json:"link,omitempty"`
	Entry []BundleEntry `json:"entry,omitempty"`
}

type bundleJSON Bundle

// MarshalJSON writes resourceType first.
func (b Bundle) MarshalJSON() ([]byte, error) { return withType("Bundle", bundleJSON(b)) }

// Issue is OperationOutcome.issue (STU3: severity and code required; IssueType
// codes from http://hl7.org/fhir/STU3/valueset-issue-type.html).
type Issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
}

// OperationOutcome is an STU3 OperationOutcome, the body of every FHIR error.
type OperationOutcome struct {
	ID    string  `json:"id,omitempty"`
	Issue []Issue `json:"issue"`
}

type outcomeJSON OperationOutcome

// MarshalJSON writes resourceType first.
func (o OperationOutcome) MarshalJSON() ([]byte, error) {
	return withType("OperationOutcome", outcomeJSON(o))
}

// NewOutcome is an OperationOutcome with one issue; text goes to details.text (so
// the CodeableConcept has its text, as Nictiz's scripts check) and diagnostics.
func NewOutcome(severity, code, text string) OperationOutcome {
	return OperationOutcome{Issue: []Issue{{Severity: severity, Code: code, Details: &CodeableConcept{Text: text}, Diagnostics: text}}}
}

// Capability statement parts (STU3 §2.37, http://hl7.org/fhir/STU3/capabilitystatement.html).
type (
	// CapabilitySoftware names the software.
	CapabilitySoftware struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	// CapabilityImplementation is the instance.
	CapabilityImplementation struct {
		Description string `json:"description"`
		URL         string `json:"url,omitempty"`
	}
	// CapabilitySecurity describes how to authenticate.
	CapabilitySecurity struct {
		Service     []CodeableConcept `json:"service,omitempty"`
		Description string            `json:"description,omitempty"`
	}
	// CapabilityInteraction is one supported interaction.
	CapabilityInteraction struct {
		Code          string `json:"code"`
		Documentation string `json:"documentation,omitempty"`
	}
	// CapabilitySearchParam is one supported search parameter.
	CapabilitySearchParam struct {
		Name          string `json:"name"`
		Definition    string `json:"definition,omitempty"`
		Type          string `json:"type"`
		Documentation string `json:"documentation,omitempty"`
	}
	// CapabilityResource is one supported resource type.
	CapabilityResource struct {
		Type          string                  `json:"type"`
		Profile       *Ref                    `json:"profile,omitempty"`
		Documentation string                  `json:"documentation,omitempty"`
		Interaction   []CapabilityInteraction `json:"interaction"`
		Versioning    string                  `json:"versioning,omitempty"`
		SearchParam   []CapabilitySearchParam `json:"searchParam,omitempty"`
	}
	// CapabilityRest is the server side of the RESTful API.
	CapabilityRest struct {
		Mode          string               `json:"mode"`
		Documentation string               `json:"documentation,omitempty"`
		Security      *CapabilitySecurity  `json:"security,omitempty"`
		Resource      []CapabilityResource `json:"resource"`
	}
)

// CapabilityStatement is an STU3 CapabilityStatement (kind instance).
type CapabilityStatement struct {
	ID             string                    `json:"id,omitempty"`
	URL            string                    `json:"url,omitempty"`
	Name           string                    `json:"name,omitempty"`
	Title          string                    `json:"title,omitempty"`
	Status         string                    `json:"status"`
	Date           string                    `json:"date"`
	Publisher      string                    `json:"publisher,omitempty"`
	Description    string                    `json:"description,omitempty"`
	Kind           string                    `json:"kind"`
	Software       *CapabilitySoftware       `json:"software,omitempty"`
	Implementation *CapabilityImplementation `json:"implementation,omitempty"`
	FHIRVersion    string                    `json:"fhirVersion"`
	AcceptUnknown  string                    `json:"acceptUnknown"`
	Format         []string                  `json:"format"`
	Rest           []CapabilityRest          `json:"rest"`
}

type capabilityJSON CapabilityStatement

// MarshalJSON writes resourceType first.
func (c CapabilityStatement) MarshalJSON() ([]byte, error) {
	return withType("CapabilityStatement", capabilityJSON(c))
}
