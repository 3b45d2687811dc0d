package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
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

// tamperSQL runs statements with the append-only and link triggers disabled, as a
// database superuser could.
func tamperSQL(t *testing.T, db *store.DB, stmts ...string) {
	t.Helper()
	all := append([]string{"alter table audit_log disable trigger user", "alter table audit_link disable trigger user"}, stmts...)
	all = append(all, "alter table audit_link enable trigger user", "alter table audit_log enable trigger user")
	for _, sql := range all {
		if _, err := db.Pool.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// rewriteChain changes record 2 and recomputes every later hash and the head: a
// consistent chain that only the signed checkpoint contradicts.
func rewriteChain(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	var recs []audit.Record
	if err := auditdb.Scan(ctx, db.Pool, audit.Filter{}, func(r *audit.Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	recs[1].PersonID = "u-rewritten"
	var stmts []string
	for i := 1; i < len(recs); i++ { // recomputed without the chain key, as the records are unkeyed here
		_ = recs[i].SealContent(nil)
		_ = recs[i].SealLink(nil, recs[i].Link, recs[i-1].Hash)
		stmts = append(stmts, fmt.Sprintf("update audit_log set person_id = '%s', mac = '\\x%s' where seq = %d",
			recs[i].PersonID, recs[i].MAC, recs[i].Seq),
			fmt.Sprintf("update audit_link set prev_hash = '\\x%s', hash = '\\x%s' where seq = %d",
				recs[i].PrevHash, recs[i].Hash, recs[i].Seq))
	}
	stmts = append(stmts, fmt.Sprintf("update audit_chain_head set hash = '\\x%s'", recs[len(recs)-1].Hash))
	tamperSQL(t, db, stmts...)
}

func TestAuditVerifyExitCodes(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, db *store.DB)
		code    int
		badSeq  int64 // the record whose id the output must name
		problem string
	}{
		{"untouched", func(*testing.T, *store.DB) {}, 0, 0, ""},
		{"changed field", func(t *testing.T, db *store.DB) {
			tamperSQL(t, db, "update audit_log set person_id = 'u-2' where seq = 3")
		}, 1, 3, "does not match its stored hash"},
		{"deleted record", func(t *testing.T, db *store.DB) {
			tamperSQL(t, db, "delete from audit_log where seq = 3")
		}, 1, 4, "missing"},
		{"swapped positions", func(t *testing.T, db *store.DB) { // walked in link order; the position is under the link hash
			tamperSQL(t, db, "update audit_link set link = 100 where link = 2", "update audit_link set link = 2 where link = 3",
				"update audit_link set link = 3 where link = 100")
		}, 1, 3, "does not match its stored link hash"},
		{"chain rewritten after checkpoint", rewriteChain, 1, 6, "differs from the checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars, db := auditFixture(t, 6)
			if code, out, errOut := auditCLI(t, vars, "audit", "checkpoint"); code != 0 || !strings.Contains(out, "checkpoint signed: seq 6") {
				t.Fatalf("checkpoint: %d %q %q", code, out, errOut)
			}
			c.tamper(t, db)
			var id string
			if c.badSeq > 0 {
				if err := db.Pool.QueryRow(context.Background(), "select id::text from audit_log where seq = $1", c.badSeq).Scan(&id); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := auditCLI(t, vars, "audit", "verify")
			if code != c.code {
				t.Fatalf("exit %d, want %d: %q %q", code, c.code, out, errOut)
			}
			if c.code == 0 && !strings.Contains(out, "audit chain OK: 6 records checked, 1 signed checkpoints matched") {
				t.Fatalf("untouched: %q", out)
			}
			if c.code == 1 && (!strings.Contains(out, fmt.Sprintf("first broken: record %s (seq %d)", id, c.badSeq)) || !strings.Contains(out, c.problem)) {
				t.Fatalf("output %q does not name record %s (seq %d) with %q", out, id, c.badSeq, c.problem)
			}
		})
	}
}

func TestAuditVerifyRangeAndExternalCheckpoints(t *testing.T) {
	vars, _ := auditFixture(t, 6)
	code, cpOut, errOut := auditCLI(t, vars, "audit", "checkpoint")
	if code != 0 {
		t.Fatalf("checkpoint: %d %q", code, errOut)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoints.txt")
	if err := os.WriteFile(cpFile, []byte(cpOut), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := auditCLI(t, vars, "audit", "verify", "--checkpoints", cpFile)
	if code != 0 || !strings.Contains(out, "6 records checked, 2 signed checkpoints matched") {
		t.Fatalf("verify with external checkpoints: %d %q", code, out)
	}
	code, out, _ = auditCLI(t, vars, "audit", "verify", "--from", "2000-01-01", "--to", "2999-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "6 records checked") {
		t.Fatalf("verify range: %d %q", code, out)
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
