package dossier

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

func patientRow(n node, _ *resolver) []string {
	bsn := fhir.MaskBSN(bsnOf(n))
	var born string
	if b := n.str("birthDate"); b != "" {
		born = "geboren " + dateNL(b)
	}
	var addr []string
	for _, a := range n.list("address") {
		addr = append(addr, address(a))
	}
	var tel []string
	for _, t := range n.list("telecom") {
		tel = append(tel, contactPoint(t))
	}
	var contacts []string
	for _, c := range n.list("contact") { // zib ContactPerson: name and relationship
		contacts = append(contacts, join(" ", humanName(c.get("name")), paren(c.concepts("relationship"))))
	}
	var gps []string
	for _, gp := range n.list("generalPractitioner") {
		gps = append(gps, gp.str("display"))
	}
	details := join("; ", born, status(n, "gender"), labelled("BSN", bsn), concept(n.get("maritalStatus")),
		join(", ", addr...), join(", ", tel...), labelled("contactpersoon", join(", ", contacts...)),
		labelled("huisarts", join(", ", gps...)))
	return []string{"Patiënt", humanName(n.first("name")), details}
}

func joinLines(a node) string {
	var lines []string
	if l, ok := a["line"].([]any); ok {
		for _, s := range l {
			if s, ok := s.(string); ok {
				lines = append(lines, s)
			}
		}
	}
	return join(" ", lines...)
}

// paren puts v between brackets, or gives "" for an empty v.
func paren(v string) string {
	if v == "" {
		return ""
	}
	return "(" + v + ")"
}

func labelled(label, v string) string {
	if v == "" {
		return ""
	}
	return label + " " + v
}

func relatedPersonRow(n node, _ *resolver) []string {
	return []string{"Contactpersoon", humanName(n.first("name")), n.concepts("relationship")}
}

func coverageRow(n node, r *resolver) []string {
	payor := list(n, "payor", r.ref)
	return []string{"Verzekering", firstOf(payor, concept(n.get("type"))),
		join("; ", concept(n.get("type")), labelled("nummer", n.str("subscriberId")), period(n.get("period")))}
}

// conditionRow shows a zib Problem: its name and type (category: diagnosis,
// complaint, ...), statuses, dates, and the body site and notes.
func conditionRow(n node, _ *resolver) []string {
	st := join(", ", status(n, "clinicalStatus"), status(n, "verificationStatus"))
	return []string{join(" ", concept(n.get("code")), paren(n.concepts("category"))), st,
		when(n, "onsetDateTime", "onsetPeriod", "assertedDate", "recordedDate"),
		when(n, "abatementDateTime", "abatementPeriod"),
		join("; ", labelled("lichaamslocatie", n.concepts("bodySite")), n.notes("note"))}
}

func allergyRow(n node, _ *resolver) []string {
	var cats []string
	specs, _ := n["_category"].([]any) // index-aligned with category
	if c, ok := n["category"].([]any); ok {
		for i, v := range c {
			var spec node
			if i < len(specs) {
				spec = asNode(specs[i])
			}
			if zib := codeSpec(spec); zib != "" {
				cats = append(cats, zib)
			} else if s, ok := v.(string); ok {
				cats = append(cats, firstOf(statusNL[s], s))
			}
		}
	}
	var reactions []string
	for _, re := range n.list("reaction") {
		reactions = append(reactions, join(", ", concept(re.get("substance")), re.concepts("manifestation"), re.str("description"),
			labelled("ernst", status(re, "severity")), labelled("blootstelling", concept(re.get("exposureRoute"))), re.notes("note")))
	}
	return []string{concept(n.get("code")), join(", ", cats...), status(n, "criticality"),
		join(", ", status(n, "clinicalStatus"), status(n, "verificationStatus")),
		when(n, "onsetDateTime", "onsetPeriod", "assertedDate", "recordedDate"), join("; ", join("; ", reactions...), n.notes("note"))}
}

func medicationRow(kind, dosageKey, dateKey string) rowBuilder {
	return func(n node, r *resolver) []string {
		med := concept(n.get("medicationCodeableConcept"))
		if med == "" {
			med = r.medication(n.get("medicationReference"))
		}
		var dose []string
		for _, d := range n.list(dosageKey) {
			dose = append(dose, dosageText(d))
		}
		if dosageKey == "dosage" && len(dose) == 0 {
			dose = append(dose, dosageText(n.get(dosageKey))) // R4 MedicationAdministration.dosage is 0..1
		}
		per := when(n, "effectivePeriod", "effectiveDateTime", dateKey)
		if vp := n.get("dispenseRequest").get("validityPeriod"); vp != nil {
			per = period(vp)
		}
		return []string{kind, med, join("; ", dose...), per, join("; ", status(n, "status"), n.notes("note"))}
	}
}

// dosageText shows a Dosage: its text (else dose, frequency and route), the
// additional instructions and when it is taken "as needed" (zib
// InstructionsForUse: AdditionalInstructions, AsNeeded).
func dosageText(d node) string {
	asNeeded := concept(d.get("asNeededCodeableConcept"))
	if asNeeded == "" && d.str("asNeededBoolean") == "ja" {
		asNeeded = "zo nodig"
	}
	extra := join(", ", d.concepts("additionalInstruction"), labelled("zo nodig:", asNeeded))
	if t := d.str("text"); t != "" {
		route := concept(d.get("route"))
		if strings.Contains(t, route) {
			route = "" // the text names it already
		}
		return join(", ", t, labelled("toedieningsweg", route), extra)
	}
	return join(", ", structuredDose(d), extra)
}

func structuredDose(d node) string {
	dose := quantity(d.get("doseQuantity"))
	if dose == "" {
		dose = rangeNL(d.get("doseRange"))
	}
	for _, dr := range d.list("doseAndRate") { // R4
		dose = firstOf(dose, quantity(dr.get("doseQuantity")), rangeNL(dr.get("doseRange")))
	}
	var freq string
	if rep := d.get("timing").get("repeat"); rep != nil && rep.str("frequency") != "" {
		freq = fmt.Sprintf("%s keer per %s %s", rep.str("frequency"), firstOf(rep.str("period"), "1"), unitNL[rep.str("periodUnit")])
	}
	return join(", ", dose, freq, concept(d.get("timing").get("code")), concept(d.get("route")), d.str("patientInstruction"))
}

var unitNL = map[string]string{"s": "seconde", "min": "minuut", "h": "uur", "d": "dag", "wk": "week", "mo": "maand", "a": "jaar"}

func medicationProductRow(n node, _ *resolver) []string {
	return []string{"Geneesmiddel (product)", concept(n.get("code")), concept(n.get("form")), "", ""}
}

func observationRow(n node, r *resolver) []string {
	return []string{concept(n.get("code")), observationValue(n), list(n, "referenceRange", rangeNL),
		when(n, "effectiveDateTime", "effectivePeriod", "issued"), observationNotes(n, r)}
}

// observationNotes shows what qualifies a result (zib LaboratoryTestResult and the
// vital signs): interpretation, comment (STU3) or note (R4), method, body site and
// the specimen.
func observationNotes(n node, r *resolver) string {
	return join("; ", n.concepts("interpretation"), n.str("comment"), n.notes("note"),
		labelled("methode", concept(n.get("method"))), labelled("lichaamslocatie", concept(n.get("bodySite"))),
		labelled("materiaal", r.ref(n.get("specimen"))))
}

// observationValue shows value[x] and the components (blood pressure "123/80 mmHg"
// appears as its two labelled components).
func observationValue(n node) string {
	v := firstOf(quantity(n.get("valueQuantity")), n.str("valueString"), concept(n.get("valueCodeableConcept")),
		n.str("valueBoolean"), n.str("valueInteger"), rangeNL(n.get("valueRange")), when(n, "valueDateTime", "valuePeriod"))
	var comps []string
	for _, c := range n.list("component") {
		cv := firstOf(quantity(c.get("valueQuantity")), c.str("valueString"), concept(c.get("valueCodeableConcept")), c.str("valueInteger"))
		comps = append(comps, join(": ", concept(c.get("code")), cv))
	}
	return join("; ", v, join("; ", comps...))
}

func specimenRow(n node, _ *resolver) []string {
	col := n.get("collection")
	return []string{join(": ", "Materiaal", concept(n.get("type"))), join(", ", concept(col.get("bodySite")), n.notes("note")),
		"", when(col, "collectedDateTime", "collectedPeriod", "receivedTime"), ""}
}

func diagnosticReportRow(n node, _ *resolver) []string {
	return []string{concept(n.get("code")), n.str("conclusion"), "", when(n, "effectiveDateTime", "effectivePeriod", "issued"), status(n, "status")}
}

func immunizationRow(n node, _ *resolver) []string {
	return []string{concept(n.get("vaccineCode")), when(n, "date", "occurrenceDateTime"), status(n, "status"), n.notes("note")}
}

func recommendationRow(n node, _ *resolver) []string {
	var vac, date, st []string
	for _, rec := range n.list("recommendation") {
		vac = append(vac, "Advies: "+firstOf(concept(rec.first("vaccineCode")), concept(rec.get("targetDisease"))))
		if d := rec.str("date"); d != "" {
			date = append(date, dateNL(d))
		}
		for _, dc := range rec.list("dateCriterion") {
			date = append(date, dateNL(dc.str("value")))
		}
		st = append(st, concept(rec.get("forecastStatus")))
	}
	return []string{join("; ", vac...), firstOf(join(", ", date...), when(n, "date")), join(", ", st...), ""}
}

func procedureRow(n node, _ *resolver) []string {
	return []string{concept(n.get("code")), when(n, "performedDateTime", "performedPeriod"), status(n, "status"),
		join("; ", n.concepts("bodySite"), n.notes("note"))}
}

func encounterRow(n node, r *resolver) []string {
	class := n.get("class")
	what := join(", ", firstOf(class.str("display"), concept(class)), n.concepts("type"))
	var reasons []string
	for _, d := range n.list("diagnosis") {
		reasons = append(reasons, r.ref(d.get("condition")))
	}
	var who, where []string
	for _, p := range n.list("participant") {
		who = append(who, join(" ", r.ref(p.get("individual")), paren(p.concepts("type"))))
	}
	for _, l := range n.list("location") {
		where = append(where, r.ref(l.get("location")))
	}
	return []string{what, when(n, "period"), status(n, "status"),
		join("; ", n.concepts("reason"), n.concepts("reasonCode"), join(", ", reasons...),
			labelled("zorgverlener", join(", ", who...)), labelled("locatie", join(", ", where...)),
			labelled("zorgaanbieder", r.ref(n.get("serviceProvider"))))}
}

func appointmentRow(n node, r *resolver) []string {
	what := firstOf(n.str("description"), n.concepts("serviceType"), concept(n.get("appointmentType")))
	var why []string
	for _, ind := range n.list("indication") { // STU3; R4 has reasonReference
		why = append(why, r.ref(ind))
	}
	for _, ind := range n.list("reasonReference") {
		why = append(why, r.ref(ind))
	}
	return []string{join(": ", "Afspraak", what), period(node{"start": n["start"], "end": n["end"]}), status(n, "status"),
		join("; ", n.concepts("reason"), n.concepts("reasonCode"), join(", ", why...), n.str("comment"))}
}

func documentRow(n node, _ *resolver) []string {
	att := n.first("content").get("attachment")
	title := firstOf(att.str("title"), n.str("description"), concept(n.get("type")))
	return []string{title, concept(n.get("type")), when(n, "created", "date", "indexed"), sizeText(att.str("contentType"), attachmentSize(att))}
}

func binaryRow(n node, _ *resolver) []string {
	data := firstOf(n.str("content"), n.str("data"))
	return []string{"Bestand", "", "", sizeText(n.str("contentType"), b64Len(data))}
}

func attachmentSize(att node) int64 {
	var size int64
	fmt.Sscan(att.str("size"), &size)
	if size == 0 && att.str("data") != "" {
		size = b64Len(att.str("data"))
	}
	return size
}

func sizeText(contentType string, size int64) string {
	if size <= 0 {
		return contentType
	}
	return fmt.Sprintf("%s, %d bytes", contentType, size)
}

// b64Len is the decoded length of standard base64 text (padding subtracted).
func b64Len(s string) int64 {
	n := int64(base64.StdEncoding.DecodedLen(len(s)))
	for i := len(s) - 1; i >= 0 && s[i] == '='; i-- {
		n--
	}
	return n
}
