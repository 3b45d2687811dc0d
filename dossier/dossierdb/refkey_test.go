package dossierdb_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// A BSN used as a FHIR id, as a source might send it (issue 15, finding 7).
const bsnPatient = `{"resourceType":"Patient","id":"999911120"}`
const bsnProblem = `{"resourceType":"Condition","id":"c1","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},"subject":{"reference":"Patient/999911120"}}`

type storedKey struct {
	key []byte
	id  *int64
}

func storedKeys(t *testing.T, db *store.DB, user string) map[string]storedKey {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `select resource_type, ref_key, ref_key_id from dossier_resource where user_id = $1`, user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storedKey{}
	var typ string
	var k storedKey
	for rows.Next() {
		if err := rows.Scan(&typ, &k.key, &k.id); err != nil {
			t.Fatal(err)
		}
		out[typ] = k
		k = storedKey{}
	}
	return out
}

// The stored ref key is no plain SHA-256 of any (user, type, id) an attacker with
// a dump could enumerate: it is the HMAC under the keyset's ref key and names the
// key. (With the unkeyed hash of before, enumerating the 10^8 BSNs found the id.)
func TestRefKeyIsKeyed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	in, err := dossier.ReadInput(bundle(t, "collection", bsnPatient, bsnProblem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Import(ctx, f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	got := storedKeys(t, f.db, f.user)
	if len(got) != 2 {
		t.Fatalf("rows %v", got)
	}
	primary, keys := f.vault.RefKeys()
	for _, typ := range []string{"Patient", "Condition"} {
		for _, id := range []string{"999911120", "c1"} {
			for _, user := range []string{f.user, ""} {
				plain := sha256.Sum256([]byte(user + "\x00" + typ + "\x00" + id))
				for stored, k := range got {
					if string(k.key) == string(plain[:]) {
						t.Errorf("the %s row's ref key is the SHA-256 of (%q, %s, %s)", stored, user, typ, id)
					}
				}
			}
		}
	}
	want := dossier.RefKey(keys[primary], f.user, "Patient", "999911120")
	if k := got["Patient"]; string(k.key) != string(want[:]) || k.id == nil || uint32(*k.id) != primary {
		t.Fatalf("Patient row: key %x id %v, want the HMAC under key %d", k.key, k.id, primary)
	}
}

// rotFixture is a dossier on a keyset file that the test rotates.
type rotFixture struct {
	db     *store.DB
	st     *dossierdb.Store
	keyset string
	user   string
}

func (r *rotFixture) svc(t *testing.T) (*dossier.Service, *vault.Vault) {
	t.Helper()
	v, err := vault.Open(r.keyset)
	if err != nil {
		t.Fatal(err)
	}
	return dossier.New(r.st, v), v
}

func (r *rotFixture) importAll(t *testing.T, svc *dossier.Service, resources ...string) {
	t.Helper()
	in, err := dossier.ReadInput(bundle(t, "collection", resources...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import(context.Background(), r.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (r *rotFixture) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := r.db.Pool.QueryRow(context.Background(), `select count(*) from dossier_resource where user_id = $1`, r.user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A re-import replaces the stored resources also after `pgo keys rotate`, before
// and after the rewrap task re-keyed them, and references still resolve to rows
// keyed with the old key.
func TestReimportReplacesAfterRotation(t *testing.T) {
	ctx := context.Background()
	r := &rotFixture{db: storetest.DB(t), keyset: vaulttest.Keyset(t), user: uuid.NewString()}
	r.st = dossierdb.New(r.db)
	addAccount(t, r.db, r.user)
	svc, _ := r.svc(t)
	r.importAll(t, svc, bsnPatient, bsnProblem)
	if _, err := vault.RotateKeyset(r.keyset); err != nil {
		t.Fatal(err)
	}
	svc, _ = r.svc(t)
	r.importAll(t, svc, bsnProblem) // resolves Patient/999911120 keyed with the old key
	r.importAll(t, svc, bsnPatient, bsnProblem)
	if n := r.rows(t); n != 2 {
		t.Fatalf("rows after re-import past a rotation: %d, want 2 (replaced)", n)
	}
	res, err := svc.ReKey(ctx, r.st, "", 100)
	if err != nil || res.Moved != 0 || res.Failed != 0 {
		t.Fatalf("the re-import keyed them anew: %v %+v", err, res)
	}
	// rows of before the rotation are re-keyed by the rewrap task
	if _, err := vault.RotateKeyset(r.keyset); err != nil {
		t.Fatal(err)
	}
	svc, v := r.svc(t)
	res, err = svc.ReKey(ctx, r.st, "", 1)
	if err != nil || res.Moved != 1 || res.Next == "" {
		t.Fatalf("first batch: %v %+v", err, res)
	}
	res, err = svc.ReKey(ctx, r.st, res.Next, 1)
	if err != nil || res.Moved != 1 {
		t.Fatalf("second batch: %v %+v", err, res)
	}
	if res, err = svc.ReKey(ctx, r.st, "", 100); err != nil || res.Moved != 0 || res.Next != "" {
		t.Fatalf("rerun: %v %+v", err, res)
	}
	primary, _ := v.RefKeys()
	for typ, k := range storedKeys(t, r.db, r.user) {
		if k.id == nil || uint32(*k.id) != primary {
			t.Errorf("%s keyed with %v, want %d", typ, k.id, primary)
		}
	}
	r.importAll(t, svc, bsnPatient, bsnProblem)
	if n := r.rows(t); n != 2 {
		t.Fatalf("rows after re-keying and re-import: %d", n)
	}
}

// Rows stored before ref keys were keyed (unkeyed SHA-256, no key id) are still
// found by a re-import, and the rewrap task re-keys them.
func TestReKeyLegacyRows(t *testing.T) {
	ctx := context.Background()
	r := &rotFixture{db: storetest.DB(t), keyset: vaulttest.Keyset(t), user: uuid.NewString()}
	r.st = dossierdb.New(r.db)
	addAccount(t, r.db, r.user)
	svc, _ := r.svc(t)
	r.importAll(t, svc, bsnPatient, bsnProblem)
	legacy := func() {
		for _, c := range [][2]string{{"Patient", "999911120"}, {"Condition", "c1"}} {
			k := dossier.LegacyRefKey(r.user, c[0], c[1])
			if _, err := r.db.Pool.Exec(ctx, `update dossier_resource set ref_key = $3, ref_key_id = null
				where user_id = $1 and resource_type = $2`, r.user, c[0], k[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	legacy()
	r.importAll(t, svc, bsnProblem)
	if n := r.rows(t); n != 2 {
		t.Fatalf("rows after re-import over legacy rows: %d, want 2", n)
	}
	legacy()
	res, err := svc.ReKey(ctx, r.st, "", 100)
	if err != nil || res.Moved != 2 || res.Failed != 0 {
		t.Fatalf("re-key legacy rows: %v %+v", err, res)
	}
	for typ, k := range storedKeys(t, r.db, r.user) {
		for _, c := range [][2]string{{"Patient", "999911120"}, {"Condition", "c1"}} {
			if old := dossier.LegacyRefKey(r.user, c[0], c[1]); string(k.key) == string(old[:]) || k.id == nil {
				t.Errorf("%s still unkeyed", typ)
			}
		}
	}
}

// A stale row whose resource another row of the account already holds under the
// primary key cannot take that key (unique (user_id, ref_key)): it is counted as
// failed and the task goes on to the next rows, instead of stopping every run at
// the same row.
func TestReKeyGoesOnPastADuplicate(t *testing.T) {
	ctx := context.Background()
	r := &rotFixture{db: storetest.DB(t), keyset: vaulttest.Keyset(t), user: uuid.NewString()}
	r.st = dossierdb.New(r.db)
	addAccount(t, r.db, r.user)
	svc, v := r.svc(t)
	r.importAll(t, svc, bsnPatient, bsnProblem)
	// a second Condition c1, unkeyed as rows of before issue 15, sealed for its own id
	dup := uuid.MustParse("00000000-0000-4000-8000-000000000001") // first in id order: the rows after it are the test
	sealed, err := v.Seal(dossier.AccountObjectID(uuid.MustParse(r.user), dup), []byte(bsnProblem))
	if err != nil {
		t.Fatal(err)
	}
	legacy := dossier.LegacyRefKey(r.user, "Condition", "c1")
	if _, err := r.db.Pool.Exec(ctx, `insert into dossier_resource
		(id, user_id, import_id, fhir_version, resource_type, category, ref_key, ref_key_id, sealed_binding, sealed)
		select $1, user_id, import_id, fhir_version, resource_type, category, $2, null, $3, $4
		from dossier_resource where user_id = $5 and resource_type = 'Condition'`,
		dup, legacy[:], string(dossier.BindingAccount), sealed, r.user); err != nil {
		t.Fatal(err)
	}
	// and the Patient row unkeyed too, so there is work after the duplicate
	pk := dossier.LegacyRefKey(r.user, "Patient", "999911120")
	if _, err := r.db.Pool.Exec(ctx, `update dossier_resource set ref_key = $2, ref_key_id = null
		where user_id = $1 and resource_type = 'Patient'`, r.user, pk[:]); err != nil {
		t.Fatal(err)
	}
	res, err := svc.ReKey(ctx, r.st, "", 100)
	if err != nil || res.Moved != 1 || res.Failed != 1 {
		t.Fatalf("re-key past a duplicate: %v %+v, want 1 moved (the Patient) and 1 failed", err, res)
	}
	if k := storedKeys(t, r.db, r.user)["Patient"]; k.id == nil {
		t.Error("the Patient row was not re-keyed")
	}
}
