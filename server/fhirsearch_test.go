package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A modifier on a search parameter this endpoint applies changes what the
// parameter selects; none is supported, so each is a 400 with an
// OperationOutcome naming the parameter, not a search for the current document
// with the modifier dropped (STU3 search.html#modifiers). An unknown parameter,
// with or without a modifier, is still ignored.
func TestFHIRSearchModifiersRefused(t *testing.T) {
	f := newFHIRFixture(t, time.Second)
	f.importMedMij(t)
	job := f.rendered(t)
	tok := f.grant(job)
	for _, q := range []string{"status:not=current", "status:missing=true", "status:text=x", "indexed:missing=true"} {
		name, _, _ := strings.Cut(q, "=")
		for _, format := range []string{"application/fhir+json", "application/fhir+xml"} {
			w := f.get("/51/fhir/DocumentReference?"+q, tok, "Accept", format)
			if w.Code != 400 || !strings.HasPrefix(w.Header().Get("Content-Type"), format) ||
				!strings.Contains(w.Body.String(), "OperationOutcome") || !strings.Contains(w.Body.String(), name) ||
				strings.Contains(w.Body.String(), job.ID) {
				t.Errorf("%s %s: %d %s; want 400 and an OperationOutcome naming %s", q, format, w.Code, w.Body, name)
			}
			if format == "application/fhir+json" {
				validSTU3(t, w.Body.Bytes())
			}
		}
	}
	w := f.get("/51/fhir/DocumentReference?status=current&patient:identifier=x", tok)
	var b searchBundle
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if want := f.base + "/DocumentReference?status=current"; w.Code != 200 || b.Total != 1 || len(b.Link) == 0 || b.Link[0].URL != want {
		t.Errorf("unknown parameter with a modifier: %d total %d links %v, want 200, 1, %s", w.Code, b.Total, b.Link, want)
	}
}
