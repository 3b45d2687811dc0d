package transfer_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// After a key rotation a received document still opens; the rewrap moves it to
// the new key (a second run moves nothing) and it still decrypts to the same bytes.
func TestRewrapReceivedDocuments(t *testing.T) {
	keyset := vaulttest.Keyset(t)
	v, err := vault.Open(keyset)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, true, func(c *transfer.Config) { c.Sealer = v })
	tr := e.fetch(t, e.consent(t).ID)
	if tr.Status != transfer.StatusDone {
		t.Fatalf("status %s", tr.Status)
	}
	oldKey := v.PrimaryKeyID()
	if _, err := vault.RotateKeyset(keyset); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.Open(keyset)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := e.store.RewrapDocuments(ctx, v2, "", 10)
	if err != nil || r.Moved != 1 || r.Failed != 0 {
		t.Fatalf("rewrap: %+v, %v", r, err)
	}
	if again, _ := e.store.RewrapDocuments(ctx, v2, "", 10); again.Moved != 0 {
		t.Fatalf("second rewrap moved %d", again.Moved)
	}
	docs, _ := e.store.Documents(ctx, e.actor.UserID, tr.ID)
	d, sealed, err := e.store.Document(ctx, e.actor.UserID, docs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := vault.KeyID(sealed); k == oldKey {
		t.Fatal("the document is still on the old key")
	}
	rd, err := v2.OpenReader(bytes.NewReader(sealed), d.ObjectID())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rd); err != nil || !bytes.Equal(buf.Bytes(), e.pdf) {
		t.Fatalf("after the rewrap the document does not decrypt to the source's bytes: %v", err)
	}
}
