package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// auditCLI runs `pgo args...` in-process against vars.
func auditCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
	return run(context.Background(), e, args), out.String(), errb.String()
}

// auditFixture is a migrated schema with n records and a signing key file.
func auditFixture(t *testing.T, n int) (map[string]string, *store.DB) {
	t.Helper()
	url := storetest.Schema(t)
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for i := 0; i < n; i++ {
		err := auditdb.Record(context.Background(), db, audit.Event{
			Action: audit.ActDocumentFetched, Outcome: audit.Success, PersonID: "u-1",
			ActorType: audit.ActorPeer, ActorID: "zuid.pgo.test", Role: audit.RoleSource,
			ObjectType: "document", ObjectID: "d-" + string(rune('a'+i)), CorrelationID: "corr-" + string(rune('a'+i%2)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	key := filepath.Join(t.TempDir(), "signing.pem")
	vars := map[string]string{"PGO_DATABASE_URL": url, "PGO_SIGNING_KEY": key, "USER": "auditor1"}
	if code, out, errOut := auditCLI(t, vars, "keys", "signing-key", "--out", key); code != 0 || !strings.Contains(out, "kid") {
		t.Fatalf("keys signing-key: %d %q %q", code, out, errOut)
	}
	return vars, db
}

func TestAuditVerifyExitCodes(t *testing.T) {
	vars, db := auditFixture(t, 6)
	code, cpOut, errOut := auditCLI(t, vars, "audit", "checkpoint")
	if code != 0 || !strings.Contains(cpOut, "checkpoint signed: seq 6") {
		t.Fatalf("checkpoint: %d %q %q", code, cpOut, errOut)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoints.txt")
	if err := os.WriteFile(cpFile, []byte(cpOut), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := auditCLI(t, vars, "audit", "verify", "--checkpoints", cpFile)
	if code != 0 || !strings.Contains(out, "6 records checked, 2 signed checkpoints matched") {
		t.Fatalf("verify untouched: %d %q %q", code, out, errOut)
	}
	code, out, _ = auditCLI(t, vars, "audit", "verify", "--from", "2000-01-01", "--to", "2999-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "6 records checked") {
		t.Fatalf("verify range: %d %q", code, out)
	}
	var id string
	ctx := context.Background()
	if err := db.Pool.QueryRow(ctx, "select id::text from audit_log where seq = 3").Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"alter table audit_log disable trigger audit_log_append_only",
		"update audit_log set person_id = 'u-2' where seq = 3",
		"alter table audit_log enable trigger audit_log_append_only",
	} {
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ = auditCLI(t, vars, "audit", "verify")
	if code != 1 || !strings.Contains(out, "first broken: record "+id+" (seq 3)") {
		t.Fatalf("verify tampered: exit %d, %q; want 1 naming %s", code, out, id)
	}
}

func TestAuditCLIUsage(t *testing.T) {
	vars, _ := auditFixture(t, 1)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"audit"}, 2, "subcommands"},
		{[]string{"audit", "nope"}, 2, "unknown subcommand"},
		{[]string{"audit", "verify", "--from", "yesterday"}, 2, "RFC 3339"},
		{[]string{"audit", "verify", "extra"}, 2, "takes no arguments"},
		{[]string{"audit", "verify", "--checkpoints", "/nonexistent"}, 1, "--checkpoints"},
		{[]string{"audit", "export"}, 2, "--format must be ndjson or fhir"},
		{[]string{"audit", "export", "--format", "csv"}, 2, "--format must be ndjson or fhir"},
		{[]string{"audit", "partitions", "--ahead", "99"}, 2, "--ahead must be 0..24"},
		{[]string{"keys", "signing-key"}, 2, "exactly one of"},
		{[]string{"keys", "signing-key", "--out", vars["PGO_SIGNING_KEY"]}, 1, "refusing to overwrite"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := auditCLI(t, vars, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d, out %q, err %q; want %d containing %q", code, out, errOut, c.code, c.want)
			}
		})
	}
	noKey := map[string]string{"PGO_DATABASE_URL": vars["PGO_DATABASE_URL"], "PGO_SIGNING_KEY": "/nonexistent/key.pem"}
	if code, _, errOut := auditCLI(t, noKey, "audit", "checkpoint"); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("checkpoint without key file: %d %q", code, errOut)
	}
}

func TestAuditExportParsesAsFHIR(t *testing.T) {
	vars, db := auditFixture(t, 5)
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "audit.ndjson")
	code, stdout, errOut := auditCLI(t, vars, "audit", "export", "--format", "ndjson", "--out", out)
	if code != 0 || !strings.Contains(stdout, "exported 5 records") {
		t.Fatalf("export ndjson: %d %q %q", code, stdout, errOut)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("export file mode: %v %v", st, err)
	}
	f, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	lines := 0
	for sc.Scan() {
		m, err := u.Unmarshal(sc.Bytes())
		if err != nil || m.(*bcrpb.ContainedResource).GetAuditEvent() == nil {
			t.Fatalf("line %d is not a valid R4 AuditEvent: %v", lines+1, err)
		}
		lines++
	}
	if lines != 5 {
		t.Fatalf("%d lines, want 5", lines)
	}
	code, stdout, errOut = auditCLI(t, vars, "audit", "export", "--format", "fhir", "--correlation-id", "corr-a")
	if code != 0 {
		t.Fatalf("export fhir: %d %q", code, errOut)
	}
	m, err := u.Unmarshal([]byte(stdout))
	if err != nil || len(m.(*bcrpb.ContainedResource).GetBundle().GetEntry()) != 3 {
		t.Fatalf("bundle: %v\n%s", err, stdout)
	}
	// Both exports were themselves audited, with the operator and the filter.
	p, err := auditdb.Query(context.Background(), db.Pool, audit.Filter{Actions: []audit.Action{audit.ActAuditExported}})
	if err != nil || len(p.Records) != 2 || p.Records[0].ActorID != "cli:auditor1" || p.Records[0].Details["correlation_id"] != "corr-a" {
		t.Fatalf("audit_exported records: %+v %v", p.Records, err)
	}
	if code, _, _ := auditCLI(t, vars, "audit", "export", "--format", "ndjson", "--out", out); code != 1 {
		t.Fatalf("export over an existing file: exit %d, want 1", code)
	}
}

func TestAuditPruneAndPartitions(t *testing.T) {
	vars, _ := auditFixture(t, 2)
	code, out, errOut := auditCLI(t, vars, "audit", "prune")
	if code != 0 || !strings.Contains(out, "nothing to prune") {
		t.Fatalf("prune: %d %q %q", code, out, errOut)
	}
	code, out, errOut = auditCLI(t, vars, "audit", "partitions", "--ahead", "5")
	if code != 0 || !strings.Contains(out, "created 3 partitions") {
		t.Fatalf("partitions: %d %q %q", code, out, errOut)
	}
	code, out, _ = auditCLI(t, vars, "keys", "signing-key", "--jwks")
	if code != 0 || !strings.Contains(out, `"kty":"EC"`) || strings.Contains(out, `"d"`) {
		t.Fatalf("jwks: %d %q", code, out)
	}
}
