package dossierdb_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

var medmijPatient = shared.Path("medmij", "bgz-patA")

// The vault is the dossier's Sealer.
var _ dossier.Sealer = (*vault.Vault)(nil)

type fixture struct {
	db    *store.DB
	svc   *dossier.Service
	user  string
	vault *vault.Vault
}

// newFixture gives a dossier service on a fresh schema, sealing with a real vault
// keyset (tink envelope encryption) created for the test.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	v, _ := vaulttest.New(t)
	db := storetest.DB(t)
	f := &fixture{db: db, svc: dossier.New(dossierdb.New(db), v), user: uuid.NewString(), vault: v}
	addAccount(t, db, f.user)
	return f
}

// addAccount creates a patient account with the given id: imports are refused for
// a user that does not exist.
func addAccount(t testing.TB, db *store.DB, id string) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `insert into accounts (id, name, role, password_hash)
		values ($1, $2, 'patient', 'not a hash')`, id, "patient-"+id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) rows(t testing.TB) int {
	return f.count(t, `select count(*) from dossier_resource where user_id = $1`, f.user)
}

// audits counts the user's imports that succeeded.
func (f *fixture) audits(t testing.TB) int {
	return f.count(t, `select count(*) from audit_log where action = 'dossier_imported' and outcome = 'success' and person_id = $1`, f.user)
}

// bundle packs resources into a collection Bundle.
func bundle(t testing.TB, typ string, resources ...string) []byte {
	t.Helper()
	entries := make([]map[string]any, len(resources))
	for i, r := range resources {
		entries[i] = map[string]any{"resource": json.RawMessage(r)}
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": typ, "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
