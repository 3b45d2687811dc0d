package dossierdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// refusal is the audit record of a refused import, as stored.
type refusal struct {
	reason, person, actor, object, rest string
}

// refusalRecords returns the refused imports' audit records of person; rest is
// every other text of the record (to search it for what must not be there).
func (f *fixture) refusalRecords(t *testing.T, person string) []refusal {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `select reason, person_id, actor_id, object_id,
		concat_ws('|', object_type, request_id, correlation_id, source_ip, user_agent, coalesce(details::text, ''), coalesce(object_hashes::text, ''))
		from audit_log where action = 'dossier_imported' and outcome = 'failure' and person_id = $1 order by seq`, person)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []refusal
	for rows.Next() {
		var r refusal
		if err := rows.Scan(&r.reason, &r.person, &r.actor, &r.object, &r.rest); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A refused import leaves an audit record of the refusal (outcome failure, a
// reason code) that commits although the import's writes roll back, and that
// holds no health data, no BSN and no id of the input: only the error's code.
func TestImportRefusalIsAudited(t *testing.T) {
	const bsnID = "999911120" // an id that passes the elfproef
	dangling := strings.ReplaceAll(problem, "Patient/p1", "Patient/"+bsnID)
	f := newFixture(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name, user, person, reason string
		input                      []byte
	}{
		// refused after rows were written inside the transaction
		{"dangling reference", f.user, f.user, pgo.EINVALID, bundle(t, "collection", patient, dangling)},
		{"invalid entry", f.user, f.user, pgo.EINVALID, bundle(t, "collection", patient, noSubj)},
		// a user id that is no UUID may be a BSN typed by mistake: not recorded
		{"user id a BSN", bsnID, "", pgo.EINVALID, bundle(t, "collection", patient)},
	} {
		in, err := dossier.ReadInput(tt.input)
		if err != nil {
			t.Fatal(err)
		}
		before := len(f.refusalRecords(t, tt.person))
		opt := dossier.ImportOptions{ActorType: "system", ActorID: "cli", RequestID: "req-" + tt.name[:4]}
		if _, err := f.svc.Import(ctx, tt.user, in, opt); pgo.ErrorCode(err) != tt.reason {
			t.Fatalf("%s: err = %v", tt.name, err)
		}
		recs := f.refusalRecords(t, tt.person)
		if len(recs) != before+1 {
			t.Fatalf("%s: %d refusal records, want %d", tt.name, len(recs), before+1)
		}
		r := recs[len(recs)-1]
		if r.reason != tt.reason || r.person != tt.person || r.actor != "cli" || uuid.Validate(r.object) != nil ||
			!strings.Contains(r.rest, "req-"+tt.name[:4]) || !strings.Contains(r.rest, "bundle:collection") {
			t.Fatalf("%s: record %+v", tt.name, r)
		}
		// person and object are checked above (the account's id, a fresh UUID);
		// a short id such as "c2" may occur in a UUID's hex digits.
		for _, secret := range []string{bsnID, "111222333", "Astma", "Çelik", "p1", "c2"} {
			if strings.Contains(r.reason+"|"+r.actor+"|"+r.rest, secret) {
				t.Fatalf("%s: the record holds %q: %+v", tt.name, secret, r)
			}
		}
	}
	if f.rows(t) != 0 || f.audits(t) != 0 {
		t.Fatalf("rows %d, imports %d after refused imports", f.rows(t), f.audits(t))
	}
	if n := f.count(t, `select count(*) from audit_log where action = 'dossier_imported' and outcome = 'failure'`); n != 3 {
		t.Fatalf("%d refusal records in all, want 3", n)
	}
}

// An import into an auditor's account is refused (EFORBIDDEN, ErrNotPatient):
// an auditor has no dossier. Nothing is stored; the refusal is audited.
func TestImportRefusesAuditorAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auditor := uuid.NewString()
	if _, err := f.db.Pool.Exec(ctx, `insert into accounts (id, name, role, password_hash)
		values ($1, 'auditor-1', 'auditor', 'not a hash')`, auditor); err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(bundle(t, "collection", patient, problem))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Import(ctx, auditor, in, dossier.ImportOptions{})
	if !errors.Is(err, dossier.ErrNotPatient) || pgo.ErrorCode(err) != pgo.EFORBIDDEN {
		t.Fatalf("err = %v, want ErrNotPatient", err)
	}
	if n := f.count(t, `select count(*) from dossier_resource where user_id = $1`, auditor); n != 0 {
		t.Fatalf("%d rows stored for the auditor", n)
	}
	if n := f.count(t, `select count(*) from dossier_patient where user_id = $1`, auditor); n != 0 {
		t.Fatalf("%d patient keys stored for the auditor", n)
	}
	if recs := f.refusalRecords(t, auditor); len(recs) != 1 || recs[0].reason != "not_a_patient" {
		t.Fatalf("refusal records %+v", recs)
	}
	// the patient's account still imports
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatalf("patient: %v", err)
	}
}

// An import of more than MaxInputEntries entries is refused with ETOOLARGE
// before anything is validated or written, whether the entries come from a
// Bundle in memory, a Bundle file, a directory or an Input built by the caller;
// the refusal is audited.
func TestImportRefusesTooManyEntries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tiny := `{"resourceType":"Basic","code":{"text":"x"}}`
	res := make([]string, dossier.MaxInputEntries+1)
	for i := range res {
		res[i] = tiny
	}
	data := bundle(t, "collection", res...)
	file := filepath.Join(t.TempDir(), "many.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	entries := make([]fhir.Entry, dossier.MaxInputEntries+1)
	for i := range entries {
		entries[i] = fhir.Entry{Index: i, JSON: []byte(tiny)}
	}
	want := fmt.Sprintf("holds more than %d entries (resources); import it in parts", dossier.MaxInputEntries)
	for _, tt := range []struct {
		name string
		read func() (dossier.Input, error)
	}{
		{"memory", func() (dossier.Input, error) { return dossier.ReadInput(data) }},
		{"file", func() (dossier.Input, error) { return dossier.ReadPath(file) }},
		{"built", func() (dossier.Input, error) { return dossier.Input{Source: "directory", Entries: entries}, nil }},
	} {
		in, err := tt.read()
		if err == nil {
			_, err = f.svc.Import(ctx, f.user, in, dossier.ImportOptions{})
		}
		if pgo.ErrorCode(err) != pgo.ETOOLARGE || !strings.HasSuffix(pgo.ErrorMessage(err), want) {
			t.Fatalf("%s: err = %v, want %q", tt.name, err, want)
		}
		if f.rows(t) != 0 || f.audits(t) != 0 {
			t.Fatalf("%s: rows %d imports %d", tt.name, f.rows(t), f.audits(t))
		}
	}
	if recs := f.refusalRecords(t, f.user); len(recs) != 1 || recs[0].reason != pgo.ETOOLARGE {
		t.Fatalf("refusal records %+v (the one Import call)", recs)
	}
}

// Input refused while it is read from a path (not JSON; a named pipe) is audited
// like a refused import (the CLI's `pgo dossier import` reads a path), and
// nothing else is stored.
func TestImportPathRefusalIsAudited(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "notes.json")
	if err := os.WriteFile(notJSON, []byte("Astma sinds 2019, BSN 999911120 {"), 0o600); err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(dir, "pipe.json")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	opt := dossier.ImportOptions{ActorType: "system", ActorID: "cli", RequestID: "req-path"}
	for i, path := range []string{notJSON, pipe} {
		if _, err := f.svc.ImportPath(ctx, f.user, path, opt); pgo.ErrorCode(err) != pgo.EINVALID {
			t.Fatalf("%s: err = %v, want invalid", filepath.Base(path), err)
		}
		recs := f.refusalRecords(t, f.user)
		if len(recs) != i+1 {
			t.Fatalf("%s: %d refusal records, want %d", filepath.Base(path), len(recs), i+1)
		}
		r := recs[i]
		if r.reason != pgo.EINVALID || r.actor != "cli" || !strings.Contains(r.rest, "req-path") {
			t.Fatalf("%s: record %+v", filepath.Base(path), r)
		}
		for _, secret := range []string{"999911120", "Astma", dir} {
			if strings.Contains(r.reason+"|"+r.actor+"|"+r.rest, secret) {
				t.Fatalf("%s: the record holds %q: %+v", filepath.Base(path), secret, r)
			}
		}
	}
	if f.rows(t) != 0 || f.audits(t) != 0 {
		t.Fatalf("rows %d, imports %d after refused imports", f.rows(t), f.audits(t))
	}
}
