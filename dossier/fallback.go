package dossier

import (
	"strings"
	"unicode"
)

// labelNL names FHIR elements (STU3 and R4) in Dutch for the generic fallback.
var labelNL = map[string]string{
	"additionalInstruction": "Aanvullende instructie", "comment": "Toelichting", "note": "Notitie",
	"method": "Methode", "bodySite": "Lichaamslocatie", "interpretation": "Interpretatie",
	"specimen": "Materiaal", "performer": "Uitvoerder", "requester": "Voorschrijver", "prescriber": "Voorschrijver",
	"participant": "Deelnemer", "individual": "Deelnemer", "location": "Locatie", "serviceProvider": "Zorgaanbieder",
	"maritalStatus": "Burgerlijke staat", "relationship": "Relatie", "contact": "Contactpersoon",
	"generalPractitioner": "Huisarts", "managingOrganization": "Zorgaanbieder", "asNeededCodeableConcept": "Zo nodig",
	"route": "Toedieningsweg", "timing": "Doseerschema", "reasonCode": "Reden", "reasonReference": "Reden",
	"reason": "Reden", "category": "Categorie", "code": "Omschrijving", "type": "Type", "description": "Omschrijving",
	"manifestation": "Reactie", "substance": "Stof", "severity": "Ernst", "criticality": "Kritiek",
	"clinicalStatus": "Klinische status", "verificationStatus": "Verificatiestatus", "status": "Status",
	"source": "Bron", "collection": "Afname", "container": "Container", "subject": "Patiënt", "patient": "Patiënt",
	"context": "Context", "asserter": "Vastgesteld door", "recorder": "Vastgelegd door",
	"informationSource": "Informatiebron", "device": "Hulpmiddel", "address": "Adres", "telecom": "Contactgegevens",
	"name": "Naam", "given": "Voornamen", "family": "Achternaam", "prefix": "Voorvoegsel", "line": "Adres",
	"city": "Woonplaats", "district": "Gemeente", "postalCode": "Postcode", "unit": "Eenheid",
	"dosageInstruction": "Dosering", "dosage": "Dosering", "vaccineCode": "Vaccin", "provision": "Bepaling",
	"actor": "Betrokkene", "action": "Handeling", "goal": "Doel", "activity": "Activiteit", "period": "Periode",
	"organization": "Organisatie", "practitioner": "Zorgverlener", "specialty": "Specialisme", "payor": "Betaler",
	"policy": "Beleid", "title": "Titel", "oralDiet": "Dieet", "referenceRange": "Referentiewaarde",
	"component": "Onderdeel", "basedOn": "Gebaseerd op", "partOf": "Onderdeel van", "agent": "Betrokkene",
	"onBehalfOf": "Namens", "diagnosis": "Diagnose", "indication": "Indicatie", "serviceType": "Soort zorg",
	"appointmentType": "Soort afspraak", "class": "Soort contact", "hospitalization": "Opname",
	"dischargeDisposition": "Ontslagbestemming", "medicationReference": "Geneesmiddel",
	"medicationCodeableConcept": "Geneesmiddel", "form": "Vorm", "ingredient": "Bestanddeel",
	"itemCodeableConcept": "Bestanddeel", "site": "Plaats", "doseQuantity": "Dosis", "rateRatio": "Snelheid",
	"dispenseRequest": "Verstrekking", "quantity": "Hoeveelheid", "valueQuantity": "Waarde",
	"valueCodeableConcept": "Waarde", "except": "Uitzondering", "scope": "Reikwijdte", "consentingParty": "Betrokkene",
	"sourceAttachment": "Bijlage", "attachment": "Bijlage", "target": "Doel", "addresses": "Betreft",
	"vaccinationProtocol": "Vaccinatieschema", "targetDisease": "Ziekte", "forecastStatus": "Status advies",
	"recommendation": "Advies", "explanation": "Toelichting", "reaction": "Reactie", "practitionerRole": "Rol",
	"role": "Rol", "qualification": "Kwalificatie", "communication": "Taal", "beneficiary": "Verzekerde",
	"subscriber": "Verzekeringnemer", "grouping": "Groep", "class_": "Klasse", "author": "Auteur",
	"custodian": "Beheerder", "subjectStatus": "Status", "supportingInformation": "Onderbouwing",
	"gender": "Geslacht", "country": "Land", "exposureRoute": "Blootstellingsroute", "admitSource": "Herkomst",
	"parent": "Oorsprong", "detail": "Details", "morphology": "Morfologie",
}

// genericKeys are elements that only carry a value; a label names what holds them.
var genericKeys = map[string]bool{
	"display": true, "text": true, "coding": true, "valueString": true, "valueCodeableConcept": true,
	"valueCoding": true, "valueReference": true, "extension:code-specification": true, "extension:translation": true,
	"extension:iso21090-EN-qualifier": true, "extension": true, "modifierExtension": true, "_display": true,
}

// fieldLabel is the Dutch label of a collected text: the nearest element on its
// path that says what the value is.
func fieldLabel(path []string) string {
	for i := len(path) - 1; i >= 0; i-- {
		k := strings.TrimPrefix(path[i], "_")
		if genericKeys[path[i]] || genericKeys[k] {
			continue
		}
		if l, ok := labelNL[k]; ok {
			return l
		}
		if ext, ok := strings.CutPrefix(k, "extension:"); ok {
			return extensionLabel(ext)
		}
		return words(k)
	}
	return "Gegeven"
}

// extensionNL names the extensions of the zib2017 / nl-core profiles by the last
// part of their URL.
var extensionNL = map[string]string{
	"Prescriber": "Voorschrijver", "AdditionalInformation": "Aanvullende informatie", "StopType": "Soort stop",
	"AgreementReason": "Reden afspraak", "ReasonForChangeOrDiscontinuationOfUse": "Reden wijziging of stoppen",
	"reference": "Zorgverlenerrol", "Morphology": "Morfologie", "Treatment": "Behandeling",
	"TreatmentPermitted": "Behandeling toegestaan", "Restrictions": "Beperkingen", "VerifiedWith": "Geverifieerd bij",
	"Comment": "Toelichting", "Disorder": "Aandoening", "Explanation": "Toelichting",
	"FluidConsistencyType": "Consistentie", "Problem": "Probleem", "Organization": "Organisatie",
	"Practitioner": "Zorgverlener", "streetName": "Straat", "houseNumber": "Huisnummer",
	"buildingNumberSuffix": "Toevoeging huisnummer", "additionalLocator": "Aanduiding bij huisnummer",
	"AddressType": "Soort adres", "TelecomType": "Soort telecom", "Laterality": "Lateraliteit",
	"Qualifier": "Lateraliteit", "DateOfBirth": "Geboortedatum", "ContactPerson": "Contactpersoon",
	"MedicalDevice": "Hulpmiddel", "HealthProfessional": "Zorgverlener", "UsageDuration": "Gebruiksduur",
	"qualifier": "Lateraliteit", "SourceReference": "Bron", "AdvanceDirective": "Wilsverklaring",
}

// extensionLabel makes a label of an extension's name, e.g.
// "zib-MedicationUse-Prescriber" -> "Voorschrijver".
func extensionLabel(name string) string {
	if i := strings.LastIndexByte(name, '-'); i >= 0 && i+1 < len(name) {
		name = name[i+1:]
	}
	if l, ok := extensionNL[name]; ok {
		return l
	}
	if l, ok := labelNL[name]; ok {
		return l
	}
	return words(name)
}

// words splits a camelCase element name into lower-case words with a capital
// first letter: "lastOccurrence" -> "Last occurrence".
func words(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case i == 0:
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsUpper(r):
			b.WriteByte(' ')
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// squash removes white space, so that texts compare however a line wrapped.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

// shown collects what is already on the page, squashed, for the fallback test.
type shown struct{ parts []string }

func (s *shown) add(texts ...string) {
	for _, t := range texts {
		if t = squash(t); t != "" {
			s.parts = append(s.parts, t)
		}
	}
}

func (s *shown) has(t string) bool {
	t = squash(t)
	for _, p := range s.parts {
		if strings.Contains(p, t) {
			return true
		}
	}
	return false
}

// extras returns the fields of texts that neither the item's cells nor the cover
// page show, grouped per label in first-seen order, each value once. The values
// become part of what the item shows, so a later text already inside one counts
// as shown.
func extras(texts []Text, cells []string, cover *shown) []Field {
	own := &shown{}
	own.add(cells...)
	var out []Field
	at := map[string]int{}
	for _, t := range texts {
		if own.has(t.Value) || cover.has(t.Value) {
			continue
		}
		own.add(t.Value)
		l := fieldLabel(t.Path)
		if i, ok := at[l]; ok {
			out[i].Value += "; " + t.Value
			continue
		}
		at[l] = len(out)
		out = append(out, Field{Label: l, Value: t.Value})
	}
	return out
}
