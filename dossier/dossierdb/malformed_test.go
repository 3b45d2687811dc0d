package dossierdb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// importBoth imports data as an in-memory Bundle and as a Bundle file (read as a
// stream); both must give the same answer.
func (f *fixture) importBoth(t *testing.T, data []byte) []error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, read := range []func() (dossier.Input, error){
		func() (dossier.Input, error) { return dossier.ReadInput(data) },
		func() (dossier.Input, error) { return dossier.ReadPath(path) },
	} {
		in, err := read()
		if err == nil {
			_, err = f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
		}
		errs = append(errs, err)
	}
	return errs
}

// Two entries with the same fullUrl (FHIR Bundle invariant bdl-7) are refused
// with the entry and path before anything is stored: with ids, a reference by
// that fullUrl would be ambiguous; without, both got the same id and the
// database refused the second with its own words.
func TestImportRejectsDuplicateFullURL(t *testing.T) {
	const urn = "urn:uuid:0b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
	cond := `{"resourceType":"Condition",%s"clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Jicht"},"subject":{"reference":"` + urn + `"}}`
	entry := func(fullURL, resource string) string {
		return `{"fullUrl":"` + fullURL + `","resource":` + resource + `}`
	}
	tx := func(entries ...string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
	}
	for _, tt := range []struct {
		name, want string
		data       []byte
	}{
		{"without ids", "entry 1: Bundle.entry[1].fullUrl: the same fullUrl as entry 0",
			tx(entry(urn, `{"resourceType":"Patient","name":[{"family":"Bakker"}]}`), entry(urn, strings.Replace(cond, "%s", "", 1)))},
		{"with ids", "entry 1: Bundle.entry[1].fullUrl: the same fullUrl as entry 0",
			tx(entry(urn, `{"resourceType":"Patient","id":"p1"}`), entry(urn, strings.Replace(cond, "%s", `"id":"c1",`, 1)))},
		{"same type without ids", "entry 2: Bundle.entry[2].fullUrl: the same fullUrl as entry 1",
			tx(entry(urn, `{"resourceType":"Patient"}`), entry("urn:uuid:1b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", strings.Replace(cond, "%s", "", 1)),
				entry("urn:uuid:1b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", strings.Replace(cond, "%s", "", 1)))},
		{"one uuid in two cases", "entry 2: Condition.id: same resource as entry 1",
			tx(entry(urn, `{"resourceType":"Patient"}`), entry("urn:uuid:1b5f6c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", strings.Replace(cond, "%s", "", 1)),
				entry("urn:uuid:1B5F6C7E-1D2A-4C3B-9E8F-7A6B5C4D3E2F", strings.Replace(cond, "%s", "", 1)))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			for _, err := range f.importBoth(t, tt.data) {
				if pgo.ErrorCode(err) != pgo.EINVALID || pgo.ErrorMessage(err) != tt.want {
					t.Errorf("err = %q (%v), want %q", pgo.ErrorMessage(err), err, tt.want)
				}
			}
			if f.rows(t) != 0 || f.audits(t) != 0 {
				t.Fatalf("rows %d audits %d after a refused import", f.rows(t), f.audits(t))
			}
		})
	}
}

// A Bundle that is not valid JSON is refused as a whole, saying where it breaks
// (not as a resource of one entry that is neither STU3 nor R4), and an entry of
// the wrong JSON type is named by its path, without Go's type names.
func TestImportMalformedBundle(t *testing.T) {
	f := newFixture(t)
	truncated := []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + patient + `},{"resource":{"resourceType":"Condition"`)
	errs := f.importBoth(t, truncated)
	want := "invalid JSON at byte " + itoa(len(truncated)) + ": unexpected end of input"
	if pgo.ErrorCode(errs[0]) != pgo.EINVALID || pgo.ErrorMessage(errs[0]) != want {
		t.Errorf("in memory: %q, want %q", pgo.ErrorMessage(errs[0]), want)
	}
	if pgo.ErrorCode(errs[1]) != pgo.EINVALID || pgo.ErrorMessage(errs[1]) != "file bundle.json: "+want {
		t.Errorf("file: %q, want %q", pgo.ErrorMessage(errs[1]), "file bundle.json: "+want)
	}
	for _, tt := range []struct{ name, data, want string }{
		{"entry not an object", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + patient + `},5]}`, "entry 1: Bundle.entry[1]: not an object"},
		{"entry not an array", `{"resourceType":"Bundle","type":"collection","entry":{"resource":` + patient + `}}`, "Bundle.entry: not an array"},
		{"fullUrl not a string", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":{},"resource":` + patient + `}]}`, "entry 0: Bundle.entry[0].fullUrl: not a string"},
		{"type not a string", `{"resourceType":"Bundle","type":7,"entry":[{"resource":` + patient + `}]}`, "Bundle.type: not a string"},
	} {
		for i, err := range f.importBoth(t, []byte(tt.data)) {
			if pgo.ErrorCode(err) != pgo.EINVALID || pgo.ErrorMessage(err) != tt.want {
				t.Errorf("%s (%d): %q, want %q", tt.name, i, pgo.ErrorMessage(err), tt.want)
			}
		}
	}
	if f.rows(t) != 0 || f.audits(t) != 0 {
		t.Fatalf("rows %d audits %d", f.rows(t), f.audits(t))
	}
}
