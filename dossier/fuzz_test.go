package dossier

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
)

// The fuzz targets of the FHIR import (issue 17): a Bundle or single resource
// (ReadInput) and a directory of loose resources (ReadPath), each validated as
// Import does before anything is stored. Plain `go test` runs the seed corpora
// (testdata/fuzz/FuzzX) as unit tests; scripts/fuzz.sh runs each for a few seconds.

// checkImportError wants a *pgo.Error with a code and a precise message.
func checkImportError(t *testing.T, err error) {
	t.Helper()
	pe, ok := err.(*pgo.Error)
	if !ok || pe.Code == "" || strings.TrimSpace(pe.Message) == "" {
		t.Fatalf("refusal is not a precise *pgo.Error: %T %v", err, err)
	}
}

// checkAccepted wants one validated resource per entry, each with the type its
// JSON names, and no type/id twice.
func checkAccepted(t *testing.T, in Input, res []fhir.Resource) {
	t.Helper()
	if len(res) != len(in.Entries) {
		t.Fatalf("%d entries, %d resources", len(in.Entries), len(res))
	}
	seen := map[string]bool{}
	for _, r := range res {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(r.JSON, &head); err != nil || r.Type == "" || head.ResourceType != r.Type {
			t.Fatalf("resource of type %q accepted as %q (%v)", head.ResourceType, r.Type, err)
		}
		if r.ID != "" && seen[r.Type+"/"+r.ID] {
			t.Fatalf("%s/%s accepted twice", r.Type, r.ID)
		}
		seen[r.Type+"/"+r.ID] = true
	}
}

// patientFiles are a few of the MedMij BgZ test patient's resources.
func patientFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range []string{"zib-Alert-medmij-bgz-test-patA-alert1.json", "zib-BodyHeight-medmij-bgz-test-patA-bodyheight1.json",
		"nl-core-organization-medmij-bgz-test-2-16-840-1-113883-2-4-6-4-7095.json"} {
		b, err := os.ReadFile(shared.Path("medmij", "bgz-patA", name))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzReadInput: a Bundle or single resource is accepted only when every entry
// validates (STU3 or R4) and, in a Bundle, every reference resolves inside it;
// anything else is a precise *pgo.Error.
func FuzzReadInput(f *testing.F) {
	files := patientFiles(f)
	var entries []string
	for i, b := range files {
		entries = append(entries, `{"fullUrl":"urn:uuid:00000000-0000-4000-8000-00000000000`+strconv.Itoa(i)+`","resource":`+string(b)+`}`)
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ReadInput(data)
		if err != nil {
			checkImportError(t, err)
			return
		}
		_, res, err := validate(in, "")
		if err != nil {
			checkImportError(t, err)
			return
		}
		checkAccepted(t, in, res)
		if _, ferr := fhir.UnresolvedRefs(res); ferr != nil {
			checkImportError(t, invalid(ferr))
		}
	})
}

// FuzzReadLoose: up to four loose resource files (the input split at NUL bytes)
// in a directory are read in name order and validated; a Bundle among them or an
// invalid one is a precise *pgo.Error naming the file.
func FuzzReadLoose(f *testing.F) {
	files := patientFiles(f)
	f.Add(files[0])
	f.Add([]byte(string(files[0]) + "\x00" + string(files[1]) + "\x00" + string(files[2])))
	f.Add([]byte(string(files[1]) + "\x00" + `{"resourceType":"Bundle","type":"collection"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for i, part := range strings.SplitN(string(data), "\x00", 4) {
			if err := os.WriteFile(filepath.Join(dir, "r"+strconv.Itoa(i)+".json"), []byte(part), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		in, err := ReadPath(dir)
		if err != nil {
			checkImportError(t, err)
			return
		}
		if in.Bundle() || in.Source != "directory" {
			t.Fatalf("a directory read as %q", in.Source)
		}
		_, res, err := validate(in, "")
		if err != nil {
			checkImportError(t, err)
			if !strings.Contains(pgo.ErrorMessage(err), "file r") {
				t.Fatalf("refusal does not name the file: %v", err)
			}
			return
		}
		checkAccepted(t, in, res)
	})
}
