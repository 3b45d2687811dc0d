package dossierdb_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

const bindPatient = `{"resourceType":"Patient","id":"999911120","name":[{"family":"Jansen","given":["Anna"]}]}`

var bindCats = []dossier.Category{dossier.CatPatient, dossier.CatProblems}

// exec runs one statement as someone with the service's database connection
// could, and returns how many rows it changed.
func (f *fixture) exec(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	tag, err := f.db.Pool.Exec(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tag.RowsAffected()
}

// readable tells what a summary of user's dossier shows: the patient's name, or
// the error that refused it.
func (f *fixture) readable(t *testing.T, user string) (string, error) {
	t.Helper()
	sum, err := f.svc.Summary(context.Background(), user, bindCats)
	if err != nil {
		return "", err
	}
	return sum.Patient.Name, nil
}

// A patient's rows moved to another account by SQL do not open there: the read
// is an error, not the patient's data. Flipping the rows' binding back to the
// bare row id does not open them either, for either account.
func TestMovedRowDoesNotOpen(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, err := dossier.ReadInput(bundle(t, "collection", bindPatient, bsnProblem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if name, err := f.readable(t, f.user); err != nil || name == "" {
		t.Fatalf("own dossier: %q %v", name, err)
	}
	other := uuid.NewString()
	addAccount(t, f.db, other)
	if n := f.exec(t, `update dossier_resource set user_id = $2, import_id = $3 where user_id = $1`, f.user, other, uuid.NewString()); n != 2 {
		t.Fatalf("moved %d rows", n)
	}
	if name, err := f.readable(t, other); err == nil || pgo.ErrorCode(err) != pgo.EINTERNAL {
		t.Errorf("moved rows opened for another account: patient %q, err %v", name, err)
	}
	if ov, err := f.svc.Overview(ctx, other); err == nil {
		t.Errorf("moved rows opened for another account in the overview: patient %q", ov.Summary.Patient.Name)
	}

	f.exec(t, `update dossier_resource set sealed_binding = 'legacy' where user_id = $1`, other)
	if name, err := f.readable(t, other); err == nil {
		t.Errorf("moved rows flipped to the bare row id opened: patient %q", name)
	}
	f.exec(t, `update dossier_resource set user_id = $2 where user_id = $1`, other, f.user)
	if name, err := f.readable(t, f.user); err == nil {
		t.Errorf("rows flipped to the bare row id opened: patient %q", name)
	}
	// the refusals above were the binding's, not damage: put back, they open
	f.exec(t, `update dossier_resource set sealed_binding = 'account' where user_id = $1`, f.user)
	if name, err := f.readable(t, f.user); err != nil || name == "" {
		t.Fatalf("rows put back: %q %v", name, err)
	}
}

// insertLegacy stores a resource as the code before migration 025 did: sealed
// with the bare row id, without naming sealed_binding.
func (f *fixture) insertLegacy(t *testing.T, typ, fhirID string, cat dossier.Category, json string) string {
	t.Helper()
	id := uuid.NewString()
	sealed, err := f.vault.Seal(id, []byte(json))
	if err != nil {
		t.Fatal(err)
	}
	primary, keys := f.vault.RefKeys()
	key := dossier.RefKey(keys[primary], f.user, typ, fhirID)
	f.exec(t, `insert into dossier_resource (id, user_id, import_id, fhir_version, resource_type, category, ref_key, ref_key_id, sealed)
		values ($1, $2, $3, 'stu3', $4, $5, $6, $7, $8)`, id, f.user, uuid.NewString(), typ, string(cat), key[:], int64(primary), sealed)
	return id
}

func (f *fixture) bindings(t *testing.T) map[dossier.Binding]int {
	t.Helper()
	out := map[dossier.Binding]int{}
	for _, b := range []dossier.Binding{dossier.BindingLegacy, dossier.BindingAccount} {
		out[b] = f.count(t, `select count(*) from dossier_resource where sealed_binding = $1`, string(b))
	}
	return out
}

// Rows stored before migration 025 (sealed with the bare row id) still read,
// also after a key rotation and the key rewrap; the re-seal binds them to their
// account, after which they read the same and no longer open when moved, and a
// second re-seal does nothing.
func TestLegacyRowsRebind(t *testing.T) {
	ctx := context.Background()
	v, keyset := vaulttest.New(t)
	db := storetest.DB(t)
	st := dossierdb.New(db)
	f := &fixture{db: db, svc: dossier.New(st, v), user: uuid.NewString(), vault: v}
	addAccount(t, db, f.user)
	f.insertLegacy(t, "Patient", "999911120", dossier.CatPatient, bindPatient)
	f.insertLegacy(t, "Condition", "c1", dossier.CatProblems, bsnProblem)
	before, err := f.svc.Summary(ctx, f.user, bindCats)
	if err != nil || before.Patient.Name == "" {
		t.Fatalf("legacy rows: %v", err)
	}
	// an import beside them reads the legacy Patient (the dossier's patient)
	in, err := dossier.ReadInput(bundle(t, "collection", `{"resourceType":"Condition","id":"c2","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Eczeem"},"subject":{"reference":"Patient/999911120"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatalf("import beside legacy rows: %v", err)
	}
	if got := f.bindings(t); got[dossier.BindingLegacy] != 2 || got[dossier.BindingAccount] != 1 {
		t.Fatalf("bindings %v", got)
	}
	before, err = f.svc.Summary(ctx, f.user, bindCats)
	if err != nil {
		t.Fatal(err)
	}

	// the key rewrap moves rows of both bindings to the new key
	if _, err := vault.RotateKeyset(keyset); err != nil {
		t.Fatal(err)
	}
	if v, err = vault.Open(keyset); err != nil {
		t.Fatal(err)
	}
	f.vault, f.svc = v, dossier.New(st, v)
	if r, err := st.Rewrap(ctx, v, "", 100); err != nil || r.Moved != 3 || r.Failed != 0 {
		t.Fatalf("key rewrap: %v %+v", err, r)
	}
	if after, err := f.svc.Summary(ctx, f.user, bindCats); err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after the key rewrap: %v", err)
	}

	moved := 0
	for after := ""; ; {
		r, err := f.svc.Rebind(ctx, st, after, 1)
		if err != nil || r.Failed != 0 || r.Raced != 0 {
			t.Fatalf("rebind: %v %+v", err, r)
		}
		moved += r.Moved
		if after = r.Next; after == "" {
			break
		}
	}
	if got := f.bindings(t); moved != 2 || got[dossier.BindingLegacy] != 0 || got[dossier.BindingAccount] != 3 {
		t.Fatalf("rebound %d, bindings %v", moved, got)
	}
	if after, err := f.svc.Summary(ctx, f.user, bindCats); err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("after the rebind: %v", err)
	}
	if r, err := f.svc.Rebind(ctx, st, "", 100); err != nil || r != (dossier.ReKeyResult{}) {
		t.Fatalf("second rebind: %v %+v", err, r)
	}
	if r, err := st.Rewrap(ctx, v, "", 100); err != nil || r.Moved != 0 {
		t.Fatalf("the rebind sealed with an older key: %v %+v", err, r)
	}
	other := uuid.NewString()
	addAccount(t, db, other)
	f.exec(t, `update dossier_resource set user_id = $2 where user_id = $1`, f.user, other)
	if name, err := f.readable(t, other); err == nil {
		t.Errorf("rebound rows opened for another account: patient %q", name)
	}
}

// racingStore changes a row between the re-seal's read and its write, as a
// concurrent writer would.
type racingStore struct {
	*dossierdb.Store
	race func(id string)
}

func (r racingStore) Rebind(ctx context.Context, id, userID string, old, sealed []byte) (bool, error) {
	r.race(id)
	return r.Store.Rebind(ctx, id, userID, old, sealed)
}

var _ dossier.RebindStore = racingStore{}

// A row changed between the re-seal's read and write (a newer ciphertext, a move
// to another account) is counted as raced and left as the other writer left it;
// a row that does not open is counted and skipped.
func TestRebindLeavesChangedRows(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change string // $1 the row id, $2 another account, $3 a newer ciphertext
	}{
		{"resealed", `update dossier_resource set sealed = $3 where id = $1 and $2::uuid is not null`},
		{"moved", `update dossier_resource set user_id = $2 where id = $1 and $3::bytea is not null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			st := dossierdb.New(f.db)
			id := f.insertLegacy(t, "Patient", "999911120", dossier.CatPatient, bindPatient)
			other := uuid.NewString()
			addAccount(t, f.db, other)
			newer, err := f.vault.Seal(id, []byte(`{"resourceType":"Patient","id":"999911120"}`))
			if err != nil {
				t.Fatal(err)
			}
			var want []any
			race := racingStore{st, func(id string) {
				f.exec(t, tc.change, id, other, newer)
				want = f.row(t, id)
			}}
			if r, err := f.svc.Rebind(ctx, race, "", 10); err != nil || r.Raced != 1 || r.Moved != 0 {
				t.Fatalf("%v %+v", err, r)
			}
			if got := f.row(t, id); !reflect.DeepEqual(got, want) || got[2] != "legacy" {
				t.Fatalf("the concurrent change was overwritten: %v", got)
			}
		})
	}

	f := newFixture(t)
	st := dossierdb.New(f.db)
	f.insertLegacy(t, "Patient", "999911120", dossier.CatPatient, bindPatient)
	f.exec(t, `update dossier_resource set sealed = '\x01000000010001ff'::bytea`)
	if r, err := f.svc.Rebind(ctx, st, "", 10); err != nil || r.Failed != 1 || r.Next != "" {
		t.Fatalf("damaged: %v %+v", err, r)
	}
	if _, err := f.svc.Rebind(ctx, st, "not-a-uuid", 10); err == nil {
		t.Fatal("bad cursor accepted")
	}
}

// row is what the re-seal may change of a row: owner, ciphertext, binding.
func (f *fixture) row(t *testing.T, id string) []any {
	t.Helper()
	var user string
	var sealed []byte
	var binding string
	if err := f.db.Pool.QueryRow(context.Background(), `select user_id, sealed, sealed_binding from dossier_resource where id = $1`,
		id).Scan(&user, &sealed, &binding); err != nil {
		t.Fatal(err)
	}
	return []any{user, sealed, binding}
}
