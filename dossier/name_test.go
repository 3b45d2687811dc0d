package dossier

import (
	"encoding/json"
	"testing"
)

func TestHumanNameDutchQualifiers(t *testing.T) {
	q := func(code string) string {
		return `{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier","valueCode":"` + code + `"}]}`
	}
	tests := []struct{ name, json, want string }{
		{"MedMij patient: first name, initial, call name", `{"family":"van XXX_Rijn","given":["Anouk","A.","Anouk"],"_given":[` + q("BR") + `,` + q("IN") + `,` + q("CL") + `]}`, "Anouk van XXX_Rijn"},
		{"two first names and initials", `{"family":"Jansen","given":["Maria","Johanna","M.J."],"_given":[` + q("BR") + `,` + q("BR") + `,` + q("IN") + `]}`, "Maria Johanna Jansen"},
		{"call name only", `{"family":"Bakker","given":["Jan"],"_given":[` + q("CL") + `]}`, "Jan Bakker"},
		{"initials only", `{"family":"Visser","given":["P.J."],"_given":[` + q("IN") + `]}`, "P.J. Visser"},
		{"no qualifiers", `{"family":"de Boer","given":["Eva","Sofie"]}`, "Eva Sofie de Boer"},
		{"null where a name has no extension", `{"family":"Smit","given":["Noor","N."],"_given":[null,` + q("IN") + `]}`, "Noor Smit"},
		{"text wins", `{"text":"mevrouw E. de Wit","family":"de Wit","given":["Els"]}`, "mevrouw E. de Wit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n map[string]any
			if err := json.Unmarshal([]byte(tt.json), &n); err != nil {
				t.Fatal(err)
			}
			if got := humanName(node(n)); got != tt.want {
				t.Errorf("humanName = %q, want %q", got, tt.want)
			}
		})
	}
}
