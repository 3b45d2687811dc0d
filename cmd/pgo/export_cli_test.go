package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// exportVars is a migrated schema and a fresh keyset for the export commands.
func exportVars(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_KEYSET_FILE": vaulttest.Keyset(t), "PGO_INSTANCE_NAME": "PGO Noord"}
}

func mustCLI(t *testing.T, vars map[string]string, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := auditCLI(t, vars, args...)
	if code != 0 {
		t.Fatalf("pgo %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out, errOut
}

func pdfText(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// `pgo export render` writes a valid PDF/A for the MedMij test patient imported
// through the dossier service: its text holds the patient and every problem; with
// one category selected nothing of another appears.
func TestExportRenderMedMij(t *testing.T) {
	vars, dir, user := exportVars(t), t.TempDir(), uuid.NewString()
	addAccount(t, vars, user)
	mustCLI(t, vars, "dossier", "import", "--user", user, shared.Path("medmij", "bgz-patA"))

	all := filepath.Join(dir, "all.pdf")
	out, errOut := mustCLI(t, vars, "export", "render", "--user", user, "--out", all)
	if !strings.Contains(out, "PDF/A-2b") || !strings.Contains(errOut, "(100%)") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	pdf, err := os.ReadFile(all)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("%v %q", err, pdf[:min(len(pdf), 8)])
	}
	if b, err := exec.Command("qpdf", "--check", all).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, b)
	}
	text := pdfText(t, all)
	for _, want := range []string{"XXX_Rijn", "PGO Noord", "Alcoholische levercirrose", "Artrose van rechter kniegewricht",
		"Maagpijn", "Besmetting met MRSA", "Artrose van linker kniegewricht", "Hepatitis B vaccin"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}

	only := filepath.Join(dir, "problems.pdf")
	mustCLI(t, vars, "export", "render", "--user", user, "--category", "Problemen", "--pdfa", "1b", "--out", only)
	if b, err := exec.Command(shared.Path("tools", "pdfa-preflight"), only).CombinedOutput(); err != nil || !strings.Contains(string(b), "is a valid PDF/A-1b file") {
		t.Fatalf("preflight: %v\n%s", err, b)
	}
	text = pdfText(t, only)
	if !strings.Contains(text, "Maagpijn") || strings.Contains(text, "Hepatitis B vaccin") {
		t.Fatalf("selection not respected:\n%s", text)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// Bad usage exits 2 with the flag at fault; a failing render exits 1, names the
// reason and leaves no file.
func TestExportCLIErrors(t *testing.T) {
	vars, dir, user := exportVars(t), t.TempDir(), uuid.NewString()
	out := filepath.Join(dir, "x.pdf")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export"}, 2, "subcommands"},
		{[]string{"export", "frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{[]string{"export", "render", "--user", user}, 2, "needs --out"},
		{[]string{"export", "render", "--out", out}, 2, "needs --user"},
		{[]string{"export", "render", "--user", user, "--out", out, "--category", "gossip"}, 2, `--category "gossip": unknown category`},
		{[]string{"export", "render", "--user", user, "--out", out, "--pdfa", "3u"}, 2, `--pdfa "3u"`},
		{[]string{"export", "status"}, 2, "needs one JOB_ID"},
		{[]string{"export", "render", "--user", user, "--out", out}, 1, "Summary.Patient.Name: is empty"},
		{[]string{"export", "render", "--user", "jan", "--out", out}, 1, "user id must be a UUID"},
		{[]string{"export", "status", "nope"}, 1, "job id must be a UUID"},
		{[]string{"export", "status", uuid.NewString()}, 1, "export job not found"},
		{[]string{"export", "request", "--user", "jan"}, 1, "user id must be a UUID"},
	}
	for _, tt := range tests {
		code, stdout, stderr := auditCLI(t, vars, tt.args...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tt.args, code, tt.code, tt.want, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left after failures: %v", entries)
	}
}

// `pgo export request` writes a queued job with its outbox row and prints the id;
// `pgo export status` shows it; `pgo keys rewrap --queue` hands the rewrap to the
// worker through the outbox.
func TestExportRequestStatusAndRewrapQueue(t *testing.T) {
	vars, user := exportVars(t), uuid.NewString()
	out, _ := mustCLI(t, vars, "export", "request", "--user", user, "--category", "problems", "--category", "Allergies")
	id := strings.TrimSpace(out)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("request printed %q", out)
	}
	status, _ := mustCLI(t, vars, "export", "status", id)
	if !strings.Contains(status, "status queued") || !strings.Contains(status, "progress 0 of 0 items (0%)") {
		t.Fatalf("status %q", status)
	}
	queued, _ := mustCLI(t, vars, "keys", "rewrap", "--queue")
	if !strings.HasPrefix(queued, "queued keys:rewrap task ") {
		t.Fatalf("rewrap --queue: %q", queued)
	}
	db, err := store.Open(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var types string
	if err := db.Pool.QueryRow(context.Background(), `select string_agg(task_type, ',' order by task_type) from outbox`).Scan(&types); err != nil || types != "export:render,keys:rewrap" {
		t.Fatalf("outbox %q %v", types, err)
	}
	if code, _, _ := auditCLI(t, vars, "keys", "rewrap", "--batch", "0"); code != 2 {
		t.Fatalf("--batch 0: exit %d", code)
	}
}

// TestExportMedMijPatientComplete: the PDF of the whole MedMij test patient holds
// every problem, allergy, medication, lab result and vaccination of the source
// files (issue 7). The expected texts are read from the FHIR files themselves: the
// text (or display) of each resource's main code (for medication: of the product).
func TestExportMedMijPatientComplete(t *testing.T) {
	vars, user := exportVars(t), uuid.NewString()
	dir := shared.Path("medmij", "bgz-patA")
	addAccount(t, vars, user)
	mustCLI(t, vars, "dossier", "import", "--user", user, dir)
	out := filepath.Join(t.TempDir(), "all.pdf")
	mustCLI(t, vars, "export", "render", "--user", user, "--out", out)
	raw, err := exec.Command("pdftotext", "-raw", "-enc", "UTF-8", out, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := strings.Join(strings.Fields(string(raw)), " ")

	resources := readFHIRDir(t, dir)
	checked := map[string]int{}
	for _, r := range resources {
		concept := r.Code
		switch r.ResourceType {
		case "Condition", "AllergyIntolerance":
		case "Immunization":
			concept = r.VaccineCode
		case "MedicationStatement", "MedicationRequest":
			concept = r.MedicationCodeableConcept
			if ref := r.MedicationReference.Reference; ref != "" {
				concept = resources[ref].Code
			}
		case "Observation":
			if !strings.Contains(string(r.Category), "49581000146104") && !strings.Contains(string(r.Category), "laboratory") {
				continue // lab results only (zib LaboratoryTestResult)
			}
		default:
			continue
		}
		want := concept.Text // FHIR: the text as the user saw it wins over a coding's display
		if want == "" && len(concept.Coding) > 0 {
			want = concept.Coding[0].Display
		}
		if want == "" {
			t.Errorf("%s/%s: no display to look for", r.ResourceType, r.ID)
			continue
		}
		checked[r.ResourceType]++
		if !strings.Contains(text, strings.Join(strings.Fields(want), " ")) {
			t.Errorf("%s/%s: PDF text lacks %q", r.ResourceType, r.ID, want)
		}
	}
	for typ, n := range map[string]int{"Condition": 5, "AllergyIntolerance": 1, "Immunization": 2, "MedicationStatement": 2, "MedicationRequest": 2, "Observation": 4} {
		if checked[typ] != n {
			t.Errorf("%d %s checked; the fixture has %d", checked[typ], typ, n)
		}
	}
}

type fhirConcept struct {
	Text   string `json:"text"`
	Coding []struct {
		Display string `json:"display"`
	} `json:"coding"`
}

type fhirResource struct {
	ResourceType              string          `json:"resourceType"`
	ID                        string          `json:"id"`
	Code                      fhirConcept     `json:"code"`
	VaccineCode               fhirConcept     `json:"vaccineCode"`
	MedicationCodeableConcept fhirConcept     `json:"medicationCodeableConcept"`
	Category                  json.RawMessage `json:"category"`
	MedicationReference       struct {
		Reference string `json:"reference"`
	} `json:"medicationReference"`
}

// readFHIRDir reads loose FHIR resources, keyed by "Type/id".
func readFHIRDir(t *testing.T, dir string) map[string]fhirResource {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	out := map[string]fhirResource{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r fhirResource
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[r.ResourceType+"/"+r.ID] = r
	}
	return out
}

// A selection over PGO_EXPORT_MAX_ITEMS is refused by `pgo export request`
// before a job is queued (no export_job row, no outbox row), and by `pgo export
// render` before a file is written; both name the count and the maximum.
func TestExportCLIRefusesSelectionOverMaxItems(t *testing.T) {
	vars, dir, user := exportVars(t), t.TempDir(), uuid.NewString()
	addAccount(t, vars, user)
	mustCLI(t, vars, "dossier", "import", "--user", user, shared.Path("medmij", "bgz-patA"))
	vars["PGO_EXPORT_MAX_ITEMS"] = "2"
	out := filepath.Join(dir, "all.pdf")
	for _, args := range [][]string{{"export", "request", "--user", user}, {"export", "render", "--user", user, "--out", out}} {
		code, stdout, stderr := auditCLI(t, vars, args...)
		if code != 1 || !strings.Contains(stderr, "more than the 2 one document may hold (PGO_EXPORT_MAX_ITEMS)") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 naming the count and the maximum", args, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left after the refused render: %v", entries)
	}
	db, err := store.Open(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var jobs, outbox int
	if err := db.Pool.QueryRow(context.Background(), `select (select count(*) from export_job), (select count(*) from outbox)`).Scan(&jobs, &outbox); err != nil || jobs != 0 || outbox != 0 {
		t.Fatalf("after the refused request: %d export jobs, %d outbox rows (%v); want none", jobs, outbox, err)
	}
}
