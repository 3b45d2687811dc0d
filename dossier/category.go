package dossier

import (
	"encoding/json"
	"strings"
)

// byType maps FHIR resource types (STU3 and R4) onto categories. zib2017 and zib2020
// map onto these types: Patiënt/Betaler/Contactpersoon -> Patient/Coverage/
// RelatedPerson; Probleem -> Condition; AllergieIntolerantie -> AllergyIntolerance;
// Medicatieafspraak/-gebruik/Toedieningsafspraak/Farmaceutisch product ->
// MedicationRequest/MedicationStatement/MedicationDispense/Medication; Vaccinatie ->
// Immunization; Verrichting -> Procedure; Contact -> Encounter (and the eAfspraak
// Appointment). Observations are split by Classify.
var byType = map[string]Category{
	"Patient": CatPatient, "RelatedPerson": CatPatient, "Coverage": CatPatient,
	"Condition":          CatProblems,
	"AllergyIntolerance": CatAllergies,
	"MedicationRequest":  CatMedication, "MedicationStatement": CatMedication,
	"MedicationDispense": CatMedication, "MedicationAdministration": CatMedication,
	"Medication":       CatMedication,
	"DiagnosticReport": CatResults, "Specimen": CatResults,
	"Immunization": CatImmunization, "ImmunizationRecommendation": CatImmunization,
	"Procedure": CatProcedures,
	"Encounter": CatEncounters, "Appointment": CatEncounters, "EpisodeOfCare": CatEncounters,
	"DocumentReference": CatDocuments, "Binary": CatDocuments,
}

// resultProfiles are the zib profiles (STU3 zib2017 and R4 zib2020 names) of
// observations that are results: laboratory results and vital signs.
var resultProfiles = []string{
	"LaboratoryTestResult", "BloodPressure", "BodyWeight", "BodyHeight", "BodyTemperature",
	"HeartRate", "PulseRate", "O2Saturation", "HeadCircumference", "GlasgowComaScale",
	"Respiration", "PainScore", "BloodGlucose",
}

// resultCategoryCodes are Observation.category codes of results: FHIR's
// observation-category "laboratory" and "vital-signs", and SNOMED 49581000146104
// (laboratory finding, used by zib LaboratoryTestResult).
var resultCategoryCodes = map[string]bool{"laboratory": true, "vital-signs": true, "49581000146104": true}

// Classify returns the category of a resource. Observations are results when they are
// labs or vital signs (by category code or zib profile); other observations (alcohol
// and tobacco use, living situation, functional status) and every type not listed
// (practitioners, organisations, advance directives, alerts, devices, unknown types)
// are "other": kept and counted, never dropped.
func Classify(resourceType string, resourceJSON []byte) Category {
	if c, ok := byType[resourceType]; ok {
		return c
	}
	if resourceType != "Observation" {
		return CatOther
	}
	var o struct {
		Meta struct {
			Profile []string `json:"profile"`
		} `json:"meta"`
		Category json.RawMessage `json:"category"` // STU3 and R4: 0..* CodeableConcept
	}
	if json.Unmarshal(resourceJSON, &o) != nil {
		return CatOther
	}
	for _, p := range o.Meta.Profile {
		for _, rp := range resultProfiles {
			if strings.Contains(p, rp) {
				return CatResults
			}
		}
	}
	var cats []struct {
		Coding []struct {
			Code string `json:"code"`
		} `json:"coding"`
	}
	if json.Unmarshal(o.Category, &cats) == nil {
		for _, c := range cats {
			for _, cd := range c.Coding {
				if resultCategoryCodes[cd.Code] {
					return CatResults
				}
			}
		}
	}
	return CatOther
}
