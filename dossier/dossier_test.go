package dossier

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

func TestDateNL(t *testing.T) {
	for in, want := range map[string]string{
		"2012-11-11": "11-11-2012", "2012-11": "11-2012", "2012": "2012", "": "",
		"2019-05-12T08:50:00+02:00": "12-05-2019 08:50", "2022-11-28T23:00:00Z": "29-11-2022",
		// issue 14: times are shown in Europe/Amsterdam, summer and winter time
		"2022-05-14T23:00:00+00:00": "15-05-2022 01:00", "2022-01-14T23:30:00Z": "15-01-2022 00:30",
		"2019-05-12T08:50:00.123+02:00": "12-05-2019 08:50", "2017-12-14T10:00:00": "14-12-2017 10:00",
	} {
		if got := dateNL(in); got != want {
			t.Errorf("dateNL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		typ, json string
		want      Category
	}{
		{"Patient", `{}`, CatPatient},
		{"Coverage", `{}`, CatPatient},
		{"Condition", `{}`, CatProblems},
		{"MedicationDispense", `{}`, CatMedication},
		{"Observation", `{"meta":{"profile":["http://nictiz.nl/fhir/StructureDefinition/zib-BloodPressure"]}}`, CatResults},
		{"Observation", `{"category":[{"coding":[{"code":"laboratory"}]}]}`, CatResults},
		{"Observation", `{"category":{"coding":[{"code":"vital-signs"}]}}`, CatOther}, // not an array: not a category list
		{"Observation", `{"meta":{"profile":["http://nictiz.nl/fhir/StructureDefinition/zib-TobaccoUse"]}}`, CatOther},
		{"Observation", `not json`, CatOther},
		{"Appointment", `{}`, CatEncounters},
		{"Binary", `{}`, CatDocuments},
		{"Practitioner", `{}`, CatOther},
		{"Futuristic", `{}`, CatOther},
	}
	for _, tt := range tests {
		if got := Classify(tt.typ, []byte(tt.json)); got != tt.want {
			t.Errorf("Classify(%s, %s) = %s, want %s", tt.typ, tt.json, got, tt.want)
		}
	}
	for _, ci := range Categories {
		if _, ok := columns[ci.Key]; !ok {
			t.Errorf("category %s has no columns", ci.Key)
		}
		if c, ok := ParseCategory(ci.LabelNL); !ok || c != ci.Key {
			t.Errorf("ParseCategory(%q)", ci.LabelNL)
		}
	}
	if _, ok := ParseCategory("Röntgen"); ok {
		t.Error("unknown category parsed")
	}
}

// Generated dossiers are deterministic, validate strictly as STU3, carry a valid BSN
// and accented names, and every reference resolves inside the Bundle.
func TestGenerate(t *testing.T) {
	a, err := Generate(SizeStandard, 11)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(SizeStandard, 11)
	c, _ := Generate(SizeStandard, 12)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("not deterministic per seed")
	}
	if _, err := Generate("huge", 1); err == nil {
		t.Fatal("unknown size accepted")
	}
	typ, entries, err := fhir.ReadBundle(a)
	if err != nil || typ != "collection" {
		t.Fatal(typ, err)
	}
	res, err := fhir.Validate(fhir.STU3, entries)
	if err != nil {
		t.Fatal(err)
	}
	if un, ferr := fhir.UnresolvedRefs(res); ferr != nil || len(un) != 0 {
		t.Fatalf("unresolved: %v %v", ferr, un)
	}
	accents := 0
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		data, _ := Generate(SizeStandard, seed)
		var bundle struct {
			Entry []struct{ Resource json.RawMessage }
		}
		_ = json.Unmarshal(data, &bundle)
		p, _ := decode(bundle.Entry[10].Resource) // organisations and practitioners come first
		if p.str("resourceType") != "Patient" || fhir.CheckBSN(bsnOf(p)) != nil {
			t.Fatalf("seed %d: entry 10 is %s with BSN check %v", seed, p.str("resourceType"), fhir.CheckBSN(bsnOf(p)))
		}
		if name := humanName(p.first("name")); strings.IndexFunc(name, func(r rune) bool { return r > 127 }) >= 0 {
			accents++
		}
	}
	if accents < 2 {
		t.Fatalf("only %d of 8 patients have an accented name", accents)
	}
}
