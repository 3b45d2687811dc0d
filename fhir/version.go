// Package fhir holds what pgo knows about HL7 FHIR: strict parsing and validation of
// inbound STU3 and R4 resources (with github.com/google/fhir/go), Dutch identifiers
// (the BSN with its elfproef), reference checks inside a Bundle, and the plain STU3
// structs we write on the MedMij PGO-koppelvlak (DocumentReference and Binary).
package fhir

import (
	"fmt"
	"strings"
)

// Version is a FHIR release we accept. MedMij gegevensdiensten deliver STU3 (zib2017 /
// nl-core); PGOs collect R4 (zib2020 / nl-core) as well.
type Version string

// The versions we parse.
const (
	STU3 Version = "stu3" // FHIR 3.0.x, http://hl7.org/fhir/STU3
	R4   Version = "r4"   // FHIR 4.0.x, http://hl7.org/fhir/R4
)

// ParseVersion accepts "stu3" or "r4" (any case, "3"/"4" and "3.0"/"4.0" too).
func ParseVersion(s string) (Version, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "stu3", "3", "3.0", "dstu3", "r3":
		return STU3, nil
	case "r4", "4", "4.0":
		return R4, nil
	}
	return "", fmt.Errorf("unknown FHIR version %q (use stu3 or r4)", s)
}
