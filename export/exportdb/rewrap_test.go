package exportdb_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/vault"
)

func (f *fixture) sealedKeyIDs(t testing.TB) map[uint32]int {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `select sealed from export_document`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uint32]int{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		id, err := vault.KeyID(b)
		if err != nil {
			t.Fatal(err)
		}
		out[id]++
	}
	return out
}

// After `pgo keys rotate` old documents stay readable; the rewrap moves them (and
// the dossier rows) to the new key in batches, and a second run moves nothing.
func TestRotateKeepsDocumentsReadableAndRewrapMovesThem(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	ctx := context.Background()
	var ids []string
	for range 3 {
		job := f.request(t)
		if err := f.jobs.Render(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, job.ID)
	}
	oldKey := f.vault.PrimaryKeyID()
	before, _, err := f.jobs.Document(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	k, err := vault.RotateKeyset(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	if f.vault.PrimaryKeyID() != k.ID || k.ID == oldKey {
		t.Fatalf("primary %d, rotated to %d, old %d", f.vault.PrimaryKeyID(), k.ID, oldKey)
	}
	after, _, err := f.jobs.Document(ctx, ids[0])
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("old document after rotation: %v", err)
	}
	if got := f.sealedKeyIDs(t); got[oldKey] != 3 {
		t.Fatalf("key ids before rewrap %v", got)
	}

	// batches of 2: the cursor walks on
	var moved int
	for after := ""; ; {
		r, err := f.store.RewrapDocuments(ctx, f.vault, after, 2)
		if err != nil || r.Failed != 0 || r.Raced != 0 {
			t.Fatalf("%v %+v", err, r)
		}
		moved += r.Moved
		if after = r.Next; after == "" {
			break
		}
	}
	if got := f.sealedKeyIDs(t); moved != 3 || got[k.ID] != 3 || len(got) != 1 {
		t.Fatalf("moved %d, key ids %v", moved, got)
	}
	for _, id := range ids {
		if _, _, err := f.jobs.Document(ctx, id); err != nil {
			t.Fatalf("document %s after rewrap: %v", id, err)
		}
	}
	if r, err := f.store.RewrapDocuments(ctx, f.vault, "", 10); err != nil || r.Moved != 0 || r.Next != "" {
		t.Fatalf("second run %v %+v", err, r)
	}

	// the dossier rows move too, and the dossier still opens
	dos := dossierdb.New(f.db)
	r, err := dos.Rewrap(ctx, f.vault, "", 1000)
	if err != nil || r.Moved != f.count(t, `select count(*) from dossier_resource`) || r.Moved == 0 || r.Failed != 0 {
		t.Fatalf("dossier rewrap %v %+v", err, r)
	}
	if n := f.count(t, `select count(*) from dossier_resource where substring(sealed from 2 for 4) <> int4send($1::int)`, int32(k.ID)); n != 0 {
		t.Fatalf("%d dossier rows not on the new key", n)
	}
	job := f.request(t)
	if err := f.jobs.Render(ctx, job.ID); err != nil {
		t.Fatalf("render after rewrap: %v", err)
	}
}

// racer changes the row between the rewrap's read and its write, as a concurrent
// writer would; the compare-and-swap must leave the newer value alone.
type racer struct {
	*vault.Vault
	race func(id string)
}

func (r racer) Rewrap(id string, ct []byte) ([]byte, error) {
	r.race(id)
	return r.Vault.Rewrap(id, ct)
}

func TestRewrapCompareAndSwap(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	ctx := context.Background()
	job := f.request(t)
	if err := f.jobs.Render(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.RotateKeyset(f.keyset); err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	newer := []byte("a newer ciphertext written meanwhile")
	rw := racer{f.vault, func(id string) {
		if _, err := f.db.Pool.Exec(ctx, `update export_document set sealed = $2 where job_id = $1`, id, newer); err != nil {
			t.Error(err)
		}
	}}
	r, err := f.store.RewrapDocuments(ctx, rw, "", 10)
	if err != nil || r.Raced != 1 || r.Moved != 0 {
		t.Fatalf("%v %+v", err, r)
	}
	var got []byte
	if err := f.db.Pool.QueryRow(ctx, `select sealed from export_document`).Scan(&got); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("the concurrent write was overwritten: %v", err)
	}
	// a damaged row is counted and skipped, not retried forever
	if _, err := f.db.Pool.Exec(ctx, `update export_document set sealed = '\x01000000010001ff'::bytea`); err != nil {
		t.Fatal(err)
	}
	if r, err := f.store.RewrapDocuments(ctx, f.vault, "", 10); err != nil || r.Failed != 1 || r.Next != "" {
		t.Fatalf("damaged: %v %+v", err, r)
	}
	if _, err := f.store.RewrapDocuments(ctx, f.vault, "not-a-uuid", 10); err == nil {
		t.Fatal("bad cursor accepted")
	}
}

var _ store.Rewrapper = racer{}
