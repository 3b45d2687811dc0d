package dossier

import "strings"

// columns are the Dutch column headings of each section.
var columns = map[Category][]string{
	CatPatient:      {"Soort", "Naam / omschrijving", "Details"},
	CatProblems:     {"Probleem", "Status", "Begindatum", "Einddatum", "Toelichting"},
	CatAllergies:    {"Allergie / stof", "Categorie", "Ernst", "Status", "Begindatum", "Reactie"},
	CatMedication:   {"Soort", "Geneesmiddel", "Dosering", "Periode", "Status / toelichting"},
	CatResults:      {"Onderzoek", "Uitslag", "Referentiewaarde", "Datum", "Interpretatie / toelichting"},
	CatImmunization: {"Vaccinatie", "Datum", "Status", "Toelichting"},
	CatProcedures:   {"Verrichting", "Datum", "Status", "Locatie / toelichting"},
	CatEncounters:   {"Contact", "Datum", "Status", "Reden / betrokkenen"},
	CatDocuments:    {"Document", "Type", "Datum", "Formaat"},
	CatOther:        {"Soort", "Omschrijving", "Datum"},
}

// statusNL translates FHIR status codes that a reader meets in these sections.
var statusNL = map[string]string{
	"active": "actief", "inactive": "niet actief", "resolved": "opgelost", "recurrence": "teruggekeerd",
	"relapse": "teruggekeerd", "remission": "in remissie", "completed": "afgerond", "stopped": "gestopt",
	"on-hold": "onderbroken", "cancelled": "geannuleerd", "entered-in-error": "foutief ingevoerd",
	"final": "definitief", "preliminary": "voorlopig", "amended": "gewijzigd", "corrected": "gecorrigeerd",
	"registered": "geregistreerd", "finished": "afgerond", "planned": "gepland", "in-progress": "bezig",
	"booked": "geboekt", "proposed": "voorgesteld", "pending": "in afwachting", "fulfilled": "uitgevoerd",
	"intended": "voorgenomen", "not-taken": "niet ingenomen", "not-done": "niet uitgevoerd", "current": "actueel",
	"superseded": "vervangen", "draft": "concept", "unknown": "onbekend", "confirmed": "bevestigd",
	"unconfirmed": "onbevestigd", "refuted": "weerlegd", "provisional": "voorlopig", "differential": "differentiaal",
	"high": "hoog", "low": "laag", "unable-to-assess": "niet te beoordelen", "mild": "licht",
	"moderate": "matig", "severe": "ernstig", "food": "voedsel", "medication": "medicatie",
	"environment": "omgeving", "biologic": "biologisch", "male": "man", "female": "vrouw", "other": "anders",
	"arrived": "aangekomen", "noshow": "niet verschenen", "checked-in": "aangemeld",
}

// status shows a status element: a code (STU3) or a CodeableConcept (R4), in Dutch.
// A Nictiz code-specification extension on the code (`_key`) carries the zib's own
// value for it (zib AllergyIntolerance: criticality "high" is "Matig" or "fataal"),
// and that value is what the reader sees: translating the FHIR code would state
// another meaning than the source's.
func status(n node, key string) string {
	if zib := codeSpec(n.get("_" + key)); zib != "" {
		return zib
	}
	if s := n.str(key); s != "" {
		if nl, ok := statusNL[s]; ok {
			return nl
		}
		return s
	}
	c := n.get(key)
	for _, cd := range c.list("coding") {
		if nl, ok := statusNL[cd.str("code")]; ok {
			return nl
		}
	}
	return concept(c)
}

// codeSpec returns the concept of a code-specification extension on a primitive's
// element (its `_name` object), or "".
func codeSpec(prim node) string {
	for _, x := range prim.list("extension") {
		if strings.HasSuffix(x.str("url"), "/code-specification") {
			return concept(x.get("valueCodeableConcept"))
		}
	}
	return ""
}

func list(n node, key string, f func(node) string) string {
	var parts []string
	for _, x := range n.list(key) {
		parts = append(parts, f(x))
	}
	return join(", ", parts...)
}

// when shows the first present of the usual date elements (dateTime, Period or date).
func when(n node, keys ...string) string {
	for _, k := range keys {
		if s := n.str(k); s != "" {
			return dateNL(s)
		}
		if p := n.get(k); p != nil {
			if s := period(p); s != "" {
				return s
			}
		}
	}
	return ""
}

// rowBuilder turns one resource into the cells of its section.
type rowBuilder func(n node, r *resolver) []string

var builders = map[string]rowBuilder{
	"Patient":                    patientRow,
	"RelatedPerson":              relatedPersonRow,
	"Coverage":                   coverageRow,
	"Condition":                  conditionRow,
	"AllergyIntolerance":         allergyRow,
	"MedicationRequest":          medicationRow("Medicatieafspraak", "dosageInstruction", "authoredOn"),
	"MedicationStatement":        medicationRow("Medicatiegebruik", "dosage", "effectivePeriod"),
	"MedicationDispense":         medicationRow("Toedieningsafspraak / verstrekking", "dosageInstruction", "whenHandedOver"),
	"MedicationAdministration":   medicationRow("Toediening", "dosage", "effectiveDateTime"),
	"Medication":                 medicationProductRow,
	"Observation":                observationRow,
	"Specimen":                   specimenRow,
	"DiagnosticReport":           diagnosticReportRow,
	"Immunization":               immunizationRow,
	"ImmunizationRecommendation": recommendationRow,
	"Procedure":                  procedureRow,
	"Encounter":                  encounterRow,
	"Appointment":                appointmentRow,
	"DocumentReference":          documentRow,
	"Binary":                     binaryRow,
}
