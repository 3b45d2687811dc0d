package dossierdb_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// After a rotation the rewrap moves every dossier row to the new key (in batches,
// by id cursor), the dossier still reads the same, and a rerun moves nothing.
func TestRewrapDossierRows(t *testing.T) {
	ctx := context.Background()
	v, keyset := vaulttest.New(t)
	db, user := storetest.DB(t), uuid.NewString()
	addAccount(t, db, user)
	st := dossierdb.New(db)
	in, err := dossier.ReadPath(medmijPatient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dossier.New(st, v).Import(ctx, user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	all := []dossier.Category{dossier.CatPatient, dossier.CatProblems, dossier.CatResults}
	before, err := dossier.New(st, v).Summary(ctx, user, all)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.Rewrap(ctx, v, "", 100); err != nil || r.Moved != 0 {
		t.Fatalf("nothing to move before a rotation: %v %+v", err, r)
	}
	k, err := vault.RotateKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	if v, err = vault.Open(keyset); err != nil {
		t.Fatal(err)
	}
	var total int
	if err := db.Pool.QueryRow(ctx, `select count(*) from dossier_resource`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	moved, batches := 0, 0
	for after := ""; ; batches++ {
		r, err := st.Rewrap(ctx, v, after, 7)
		if err != nil || r.Failed != 0 {
			t.Fatalf("%v %+v", err, r)
		}
		moved += r.Moved
		if after = r.Next; after == "" {
			break
		}
	}
	if moved != total || batches < total/7 {
		t.Fatalf("moved %d of %d in %d batches", moved, total, batches)
	}
	rows, err := st.Rows(ctx, user, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if id, _ := vault.KeyID(r.Sealed); id != k.ID {
			t.Fatalf("row %s on key %d, want %d", r.ID, id, k.ID)
		}
	}
	after, err := dossier.New(st, v).Summary(ctx, user, all)
	if err != nil || len(after.Sections) != len(before.Sections) || after.Patient != before.Patient {
		t.Fatalf("summary changed: %v", err)
	}
	if r, err := st.Rewrap(ctx, v, "", 100); err != nil || r.Moved != 0 {
		t.Fatalf("rerun: %v %+v", err, r)
	}
	if _, err := st.Rewrap(ctx, v, "x", 1); err == nil {
		t.Fatal("bad cursor accepted")
	}
}
