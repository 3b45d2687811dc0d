package dossier

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// Size of a generated dossier.
type Size string

// Sizes: "standard" is about 300 resources (a ~20-page PDF), "large" about 10,000.
const (
	SizeStandard Size = "standard"
	SizeLarge    Size = "large"
)

type plan struct {
	problems, allergies, agreements, uses, labs, vitals, specimens int
	vaccins, procedures, encounters, lifestyle, documents          int
}

var plans = map[Size]plan{
	SizeStandard: {15, 4, 20, 20, 140, 30, 10, 12, 6, 24, 4, 3},
	SizeLarge:    {40, 6, 600, 600, 7500, 600, 200, 60, 30, 300, 20, 20},
}

const zib = "http://nictiz.nl/fhir/StructureDefinition/"

// Generate returns a synthetic Dutch dossier as a FHIR STU3 collection Bundle of
// zib2017 / nl-core resources, shaped like the MedMij BgZ test patient: a patient with
// a valid BSN (elfproef), payers, practitioners and organisations, problems,
// allergies, medication agreements and use, lab results and vital signs, vaccinations,
// procedures, encounters, lifestyle observations and a few letters. The same size and
// seed always give the same bytes. Every reference resolves inside the Bundle.
func Generate(size Size, seed uint64) ([]byte, error) {
	p, ok := plans[size]
	if !ok {
		return nil, pgo.Errorf(pgo.EINVALID, "unknown size %q (standard or large)", size)
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seed: seed,
		base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.people()
	g.clinical(p)
	return json.Marshal(map[string]any{
		"resourceType": "Bundle", "id": fmt.Sprintf("gen%d-%s", seed, size), "type": "collection",
		"meta":  map[string]any{"lastUpdated": "2026-01-01T00:00:00Z"},
		"entry": g.entries,
	})
}

type gen struct {
	r       *rand.Rand
	seed    uint64
	base    time.Time
	entries []map[string]any
	counter map[string]int
	patient string
	orgs    []string
	prac    []string
	meds    []string
	probs   []string
	specs   []string
}

type obj = map[string]any

// add appends a resource with a deterministic id and fullUrl and returns "Type/id".
func (g *gen) add(typ, kind, profile string, res obj) string {
	if g.counter == nil {
		g.counter = map[string]int{}
	}
	g.counter[kind]++
	id := fmt.Sprintf("gen%d-%s-%d", g.seed, kind, g.counter[kind])
	res["resourceType"], res["id"] = typ, id
	if profile != "" {
		res["meta"] = obj{"profile": []string{profile}}
	}
	u := fmt.Sprintf("urn:uuid:%08x-%04x-4%03x-a%03x-%012x", g.r.Uint32(), g.r.Uint32()&0xffff,
		g.r.Uint32()&0xfff, g.r.Uint32()&0xfff, g.r.Uint64()&0xffffffffffff)
	g.entries = append(g.entries, obj{"fullUrl": u, "resource": res})
	return typ + "/" + id
}

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

func cc(c code) obj {
	return obj{"coding": []obj{{"system": c.system, "code": c.code, "display": c.display}}}
}

func ref(r string, display string) obj {
	if display == "" {
		return obj{"reference": r}
	}
	return obj{"reference": r, "display": display}
}

// day returns a date within the last years as YYYY-MM-DD.
func (g *gen) day(maxYears int) string {
	return g.base.AddDate(0, 0, -g.r.IntN(maxYears*365)-1).Format("2006-01-02")
}

// instant returns a dateTime with Dutch offset.
func (g *gen) instant(maxYears int) string {
	t := g.base.AddDate(0, 0, -g.r.IntN(maxYears*365)-1).Add(time.Duration(7*60+g.r.IntN(10*60)) * time.Minute)
	return t.Format("2006-01-02T15:04:00") + "+01:00"
}

// bsn returns a valid BSN: eight random digits and the check digit the elfproef demands.
func (g *gen) bsn() string {
	for {
		d := make([]byte, 9)
		sum := 0
		for i := 0; i < 8; i++ {
			n := g.r.IntN(10)
			if i == 0 {
				n = 1 + g.r.IntN(9)
			}
			d[i] = byte('0' + n)
			sum += (9 - i) * n
		}
		if c := sum % 11; c < 10 {
			d[8] = byte('0' + c)
			return string(d)
		}
	}
}

func (g *gen) name(female bool) (given, family string) {
	given = pick(g, givenMale)
	if female {
		given = pick(g, givenFemale)
	}
	family = pick(g, familyNames)
	if p := pick(g, familyPrefixes); p != "" {
		family = p + " " + family
	}
	return given, family
}

func humanNameObj(given, family string) obj {
	return obj{"family": family, "given": []string{given}, "text": given + " " + family}
}

func (g *gen) people() {
	female := g.r.IntN(2) == 0
	given, family := g.name(female)
	gender := map[bool]string{true: "female", false: "male"}[female]
	place := pick(g, cities)
	for _, o := range organizations {
		g.orgs = append(g.orgs, g.add("Organization", "org", "http://fhir.nl/fhir/StructureDefinition/nl-core-organization",
			obj{"name": o, "active": true}))
	}
	for i := 0; i < 4; i++ {
		pg, pf := g.name(g.r.IntN(2) == 0)
		g.prac = append(g.prac, g.add("Practitioner", "prac", "http://fhir.nl/fhir/StructureDefinition/nl-core-practitioner",
			obj{"name": []obj{humanNameObj(pg, pf)}}))
	}
	g.patient = g.add("Patient", "patient", "http://fhir.nl/fhir/StructureDefinition/nl-core-patient", obj{
		"identifier": []obj{{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": g.bsn()}},
		"name":       []obj{humanNameObj(given, family)},
		"gender":     gender,
		"birthDate":  g.base.AddDate(-20-g.r.IntN(65), -g.r.IntN(12), -g.r.IntN(28)).Format("2006-01-02"),
		"address": []obj{{"use": "home", "line": []string{fmt.Sprintf("%s %d", place.street, 1+g.r.IntN(200))},
			"city": place.city, "postalCode": place.postal, "country": "NLD"}},
		"telecom":             []obj{{"system": "phone", "value": fmt.Sprintf("06%08d", g.r.IntN(100000000)), "use": "home"}},
		"generalPractitioner": []obj{ref(g.prac[0], "")},
	})
	rg, rf := g.name(!female)
	g.add("RelatedPerson", "related", "http://fhir.nl/fhir/StructureDefinition/nl-core-relatedperson", obj{
		"patient": ref(g.patient, ""), "name": []obj{humanNameObj(rg, rf)},
		"relationship": cc(code{"http://hl7.org/fhir/v3/RoleCode", "DOMPART", "Partner"}),
	})
	for i, insurer := range []string{"Zilveren Kruis", "Menzis"} {
		org := g.add("Organization", "insurer", "http://fhir.nl/fhir/StructureDefinition/nl-core-organization", obj{"name": insurer})
		g.add("Coverage", "payer", zib+"zib-Payer", obj{
			"status": "active", "type": cc(code{"urn:oid:2.16.840.1.113883.2.4.3.11.22.1", []string{"ZVW", "AV"}[i], []string{"Basisverzekering", "Aanvullende verzekering"}[i]}),
			"subscriberId": fmt.Sprintf("%09d", g.r.IntN(1000000000)), "beneficiary": ref(g.patient, ""), "payor": []obj{ref(org, insurer)},
			"period": obj{"start": "2026-01-01", "end": "2026-12-31"},
		})
	}
}

func (g *gen) clinical(p plan) {
	g.problems(p.problems)
	g.allergies(p.allergies)
	g.medication(p.agreements, p.uses)
	g.results(p.specimens, p.labs, p.vitals)
	g.vaccinations(p.vaccins)
	g.procedures(p.procedures)
	g.encounters(p.encounters)
	g.lifestyle(p.lifestyle)
	g.documents(p.documents)
}

func (g *gen) problems(n int) {
	for i := 0; i < n; i++ {
		d := diagnoses[i%len(diagnoses)]
		status := []string{"active", "active", "inactive", "resolved"}[g.r.IntN(4)]
		res := obj{"clinicalStatus": status, "verificationStatus": "confirmed", "code": cc(d),
			"category": []obj{cc(code{snomed, "282291009", "Diagnose"})},
			"subject":  ref(g.patient, ""), "onsetDateTime": g.day(15), "asserter": ref(pick(g, g.prac), "")}
		if status == "resolved" {
			res["abatementDateTime"] = g.day(1)
		}
		if g.r.IntN(3) == 0 {
			res["note"] = []obj{{"text": "Controle bij de huisarts volgens NHG-standaard; patiënt is goed geïnformeerd."}}
		}
		g.probs = append(g.probs, g.add("Condition", "problem", zib+"zib-Problem", res))
	}
}

func (g *gen) allergies(n int) {
	for i := 0; i < n; i++ {
		a := allergens[i%len(allergens)]
		g.add("AllergyIntolerance", "allergy", zib+"zib-AllergyIntolerance", obj{
			"clinicalStatus": "active", "verificationStatus": "confirmed", "category": []string{"medication"},
			"criticality": []string{"low", "high"}[g.r.IntN(2)], "code": cc(a), "patient": ref(g.patient, ""),
			"assertedDate": g.day(20), "reaction": []obj{{"manifestation": []obj{cc(pick(g, reactions))}}},
		})
	}
}

func (g *gen) medication(agreements, uses int) {
	for _, m := range medicines {
		g.meds = append(g.meds, g.add("Medication", "product", zib+"zib-Product", obj{"code": cc(m.code)}))
	}
	for i := 0; i < agreements; i++ {
		k := g.r.IntN(len(medicines))
		start := g.day(10)
		g.add("MedicationRequest", "medagr", zib+"zib-MedicationAgreement", obj{
			"status": "active", "intent": "order", "medicationReference": ref(g.meds[k], medicines[k].display),
			"subject": ref(g.patient, ""), "authoredOn": start,
			"dosageInstruction": []obj{{"text": medicines[k].dose}},
			"dispenseRequest":   obj{"validityPeriod": obj{"start": start}},
		})
	}
	for i := 0; i < uses; i++ {
		k := g.r.IntN(len(medicines))
		g.add("MedicationStatement", "meduse", zib+"zib-MedicationUse", obj{
			"status": "active", "taken": "y", "medicationReference": ref(g.meds[k], medicines[k].display),
			"subject": ref(g.patient, ""), "effectivePeriod": obj{"start": g.day(10)},
			"dosage": []obj{{"text": medicines[k].dose}},
		})
	}
}

func quantityObj(v float64, dec int, unit string) obj {
	return obj{"value": json.Number(strconv.FormatFloat(v, 'f', dec, 64)), "unit": unit, "system": ucum, "code": unit}
}

func (g *gen) results(specimens, labs, vitals int) {
	for i := 0; i < specimens; i++ {
		g.specs = append(g.specs, g.add("Specimen", "specimen", zib+"zib-LaboratoryTestResult-Specimen", obj{
			"type": cc(code{snomed, "119297000", "Bloed"}), "subject": ref(g.patient, ""),
			"collection": obj{"collectedDateTime": g.instant(10)},
		}))
	}
	for i := 0; i < labs; i++ {
		t := labTests[i%len(labTests)]
		span := t.hi - t.low
		v := t.low - span*0.2 + g.r.Float64()*span*1.4
		interp := code{"http://hl7.org/fhir/v2/0078", "N", "Normaal"}
		if v < t.low {
			interp = code{"http://hl7.org/fhir/v2/0078", "L", "Laag"}
		} else if v > t.hi {
			interp = code{"http://hl7.org/fhir/v2/0078", "H", "Hoog"}
		}
		res := obj{"status": "final", "code": cc(t.code), "subject": ref(g.patient, ""),
			"category":          []obj{cc(code{snomed, "49581000146104", "bevinding betreffende laboratoriumonderzoek"})},
			"effectiveDateTime": g.instant(10), "valueQuantity": quantityObj(v, t.decimals, t.unit),
			"interpretation": cc(interp),
			"referenceRange": []obj{{"low": quantityObj(t.low, t.decimals, t.unit), "high": quantityObj(t.hi, t.decimals, t.unit)}}}
		if len(g.specs) > 0 {
			res["specimen"] = ref(pick(g, g.specs), "Bloed")
		}
		g.add("Observation", "lab", zib+"zib-LaboratoryTestResult-Observation", res)
	}
	for i := 0; i < vitals; i++ {
		g.vital(i)
	}
}

func (g *gen) vital(i int) {
	vs := []obj{cc(code{"http://hl7.org/fhir/observation-category", "vital-signs", "Vitale functies"})}
	res := obj{"status": "final", "subject": ref(g.patient, ""), "category": vs, "effectiveDateTime": g.instant(10)}
	switch i % 4 {
	case 0:
		res["code"] = cc(code{loinc, "85354-9", "Bloeddruk"})
		res["component"] = []obj{
			{"code": cc(code{loinc, "8480-6", "Systolische bloeddruk"}), "valueQuantity": quantityObj(float64(105+g.r.IntN(60)), 0, "mm[Hg]")},
			{"code": cc(code{loinc, "8462-4", "Diastolische bloeddruk"}), "valueQuantity": quantityObj(float64(60+g.r.IntN(35)), 0, "mm[Hg]")},
		}
		g.add("Observation", "bp", zib+"zib-BloodPressure", res)
	case 1:
		res["code"] = cc(code{loinc, "29463-7", "Lichaamsgewicht"})
		res["valueQuantity"] = quantityObj(55+g.r.Float64()*50, 1, "kg")
		g.add("Observation", "weight", zib+"zib-BodyWeight", res)
	case 2:
		res["code"] = cc(code{loinc, "8302-2", "Lichaamslengte"})
		res["valueQuantity"] = quantityObj(float64(155+g.r.IntN(45)), 0, "cm")
		g.add("Observation", "height", zib+"zib-BodyHeight", res)
	default:
		res["code"] = cc(code{loinc, "8867-4", "Hartfrequentie"})
		res["valueQuantity"] = quantityObj(float64(55+g.r.IntN(50)), 0, "/min")
		g.add("Observation", "hr", zib+"zib-HeartRate", res)
	}
}

func (g *gen) vaccinations(n int) {
	for i := 0; i < n; i++ {
		g.add("Immunization", "vaccin", zib+"zib-Vaccination", obj{
			"status": "completed", "notGiven": false, "primarySource": true, "vaccineCode": cc(vaccines[i%len(vaccines)]),
			"patient": ref(g.patient, ""), "date": g.day(30),
		})
	}
}

func (g *gen) procedures(n int) {
	for i := 0; i < n; i++ {
		g.add("Procedure", "procedure", zib+"zib-Procedure", obj{
			"status": "completed", "code": cc(procedures[i%len(procedures)]), "subject": ref(g.patient, ""),
			"performedDateTime": g.day(25), "performer": []obj{{"actor": ref(pick(g, g.prac), "")}},
		})
	}
}

func (g *gen) encounters(n int) {
	for i := 0; i < n; i++ {
		et := pick(g, encounterTypes)
		start := g.instant(10)
		res := obj{"status": "finished", "class": obj{"system": "http://hl7.org/fhir/v3/ActCode", "code": et.class, "display": et.classDisplay},
			"type": []obj{cc(et.typ)}, "subject": ref(g.patient, ""), "period": obj{"start": start, "end": start},
			"participant": []obj{{"individual": ref(pick(g, g.prac), "")}}, "serviceProvider": ref(pick(g, g.orgs), "")}
		if len(g.probs) > 0 {
			res["diagnosis"] = []obj{{"condition": ref(pick(g, g.probs), "")}}
		}
		g.add("Encounter", "encounter", zib+"zib-Encounter", res)
	}
}

func (g *gen) lifestyle(n int) {
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			g.add("Observation", "tobacco", zib+"zib-TobaccoUse", obj{"status": "final", "subject": ref(g.patient, ""),
				"code": cc(code{snomed, "365980008", "Bevinding betreffende tabakgebruik"}), "effectiveDateTime": g.day(10),
				"valueCodeableConcept": cc(pick(g, []code{{snomed, "8517006", "Ex-roker"}, {snomed, "266919005", "Nooit gerookt"}}))})
			continue
		}
		g.add("Observation", "alcohol", zib+"zib-AlcoholUse", obj{"status": "final", "subject": ref(g.patient, ""),
			"code": cc(code{snomed, "228273003", "Bevinding betreffende alcoholgebruik"}), "effectiveDateTime": g.day(10),
			"valueCodeableConcept": cc(code{snomed, "228276006", "Gebruikt af en toe alcohol"})})
	}
}

func (g *gen) documents(n int) {
	for i := 0; i < n; i++ {
		letter := fmt.Sprintf("Ontslagbrief %d: patiënt is in goede conditie naar huis gegaan. Controle over zes weken.", i+1)
		g.add("DocumentReference", "letter", "", obj{
			"status": "current", "type": cc(code{loinc, "18842-5", "Ontslagbrief"}), "subject": ref(g.patient, ""),
			"indexed": g.instant(5), "content": []obj{{"attachment": obj{"contentType": "text/plain",
				"data": base64.StdEncoding.EncodeToString([]byte(letter)), "title": fmt.Sprintf("Ontslagbrief %d", i+1)}}},
		})
	}
}
