package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

func dossierVars(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_KEYSET_FILE": vaulttest.Keyset(t)}
}

func TestDossierGenerateIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	var files [3][]byte
	for i, seed := range []string{"5", "5", "6"} {
		out := filepath.Join(dir, "d"+string(rune('a'+i))+".json")
		code, stdout, stderr := auditCLI(t, nil, "dossier", "generate", "--size", "standard", "--seed", seed, "--out", out)
		if code != 0 || !strings.Contains(stdout, "resources") {
			t.Fatalf("generate: %d %q %q", code, stdout, stderr)
		}
		files[i], _ = os.ReadFile(out)
	}
	if !bytes.Equal(files[0], files[1]) || bytes.Equal(files[0], files[2]) {
		t.Fatal("same seed must give the same bytes, another seed other bytes")
	}
	for _, args := range [][]string{
		{"dossier", "generate", "--size", "huge", "--out", filepath.Join(dir, "x")},
		{"dossier", "generate", "--size", "standard"},
		{"dossier", "frobnicate"},
	} {
		if code, _, _ := auditCLI(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestDossierImportCLI(t *testing.T) {
	vars := dossierVars(t)
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen.json")
	if code, _, stderr := auditCLI(t, nil, "dossier", "generate", "--size", "standard", "--seed", "9", "--out", gen); code != 0 {
		t.Fatal(stderr)
	}
	const user = "6b1f0a2e-6c1d-4f3e-9a5b-2c7d8e9f0a1b"
	// an import for a user that does not exist is refused (exit 1), nothing stored
	code, _, stderr := auditCLI(t, vars, "dossier", "import", "--user", user, gen)
	if code != 1 || strings.TrimSpace(stderr) != "pgo dossier import: there is no user with this id; nothing was imported" {
		t.Fatalf("unknown user: %d %q", code, stderr)
	}
	addAccount(t, vars, user)
	code, stdout, stderr := auditCLI(t, vars, "dossier", "import", "--user", user, "--fhir-version", "stu3", gen)
	if code != 0 || !strings.Contains(stdout, "(FHIR STU3, bundle:collection)") || !strings.Contains(stdout, "Uitslagen") {
		t.Fatalf("import: %d %q %q", code, stdout, stderr)
	}
	// the MedMij patient is another person: not into the same dossier (issue 14), into another's
	code, _, stderr = auditCLI(t, vars, "dossier", "import", "--user", user, shared.Path("medmij", "bgz-patA"))
	if code != 1 || !strings.Contains(stderr, "Patient: another patient than the one this dossier holds") {
		t.Fatalf("second patient: %d %q", code, stderr)
	}
	const other = "7c2f1b3e-7d2e-4a4f-8b6c-3d8e9f0a1b2c"
	addAccount(t, vars, other)
	code, stdout, stderr = auditCLI(t, vars, "dossier", "import", "--user", other, shared.Path("medmij", "bgz-patA"))
	if code != 0 || !strings.Contains(stdout, "imported 55 resources (FHIR STU3, directory)") || !strings.Contains(stderr, "warning: file zib-Encounter") {
		t.Fatalf("import dir: %d %q %q", code, stdout, stderr)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"collection","entry":[
		{"resource":{"resourceType":"Patient","id":"q1"}},
		{"resource":{"resourceType":"Condition","id":"q2","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"x"}}}]}`), 0o600)
	code, _, stderr = auditCLI(t, vars, "dossier", "import", "--user", user, bad)
	if code != 1 || strings.TrimSpace(stderr) != `pgo dossier import: entry 1: Condition: missing required field "subject" (neither valid STU3 nor R4); nothing was imported` {
		t.Fatalf("bad bundle: %d %q", code, stderr)
	}
	for _, args := range [][]string{
		{"dossier", "import", gen},
		{"dossier", "import", "--user", user, "--fhir-version", "r5", gen},
		{"dossier", "import", "--user", user},
	} {
		if code, _, _ := auditCLI(t, vars, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := auditCLI(t, vars, "dossier", "import", "--user", "nope", gen); code != 1 || !strings.Contains(stderr, "user id must be a UUID") {
		t.Errorf("bad user: %d %q", code, stderr)
	}
}
