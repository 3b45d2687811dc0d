package fhir

import "errors"

// BSNSystem is the NamingSystem of the Dutch citizen service number (burgerservicenummer)
// as used by nl-core (http://fhir.nl/fhir/NamingSystem/bsn).
const BSNSystem = "http://fhir.nl/fhir/NamingSystem/bsn"

// DataAbsentReason is the extension that says why a value is missing; MedMij sources
// mask the BSN with it (valueCode "masked") on the identifier's `_value`.
const DataAbsentReason = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

// Masked is how a masked BSN is shown to a person.
const Masked = "afgeschermd"

// Errors of CheckBSN. They never contain the number itself.
var (
	ErrBSNFormat   = errors.New("a BSN has exactly 9 digits")
	ErrBSNElfproef = errors.New("the BSN fails the elfproef (11-test)")
)

// CheckBSN checks a BSN: nine digits whose weighted sum 9*d1 + 8*d2 + ... + 2*d8 - 1*d9
// is a multiple of 11 (the elfproef of the Wet algemene bepalingen
// burgerservicenummer). 000000000 is rejected although its sum is 0.
func CheckBSN(bsn string) error {
	if len(bsn) != 9 {
		return ErrBSNFormat
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := bsn[i]
		if c < '0' || c > '9' {
			return ErrBSNFormat
		}
		w := 9 - i
		if i == 8 {
			w = -1
		}
		sum += w * int(c-'0')
	}
	if sum%11 != 0 || bsn == "000000000" {
		return ErrBSNElfproef
	}
	return nil
}

// MaskBSN is the form of a BSN that a document or screen shows (data
// minimisation, PGO-koppelvlak FR042): five asterisks and the last four digits,
// enough for a reader to recognise their own number, useless as an identifier.
// Anything that is not nine digits (Masked, "") is returned as it is.
func MaskBSN(bsn string) string {
	if len(bsn) != 9 {
		return bsn
	}
	for i := 0; i < 9; i++ {
		if bsn[i] < '0' || bsn[i] > '9' {
			return bsn
		}
	}
	return "*****" + bsn[5:]
}
