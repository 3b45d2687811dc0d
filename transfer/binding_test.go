package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// Someone with the service's database connection (SECURITY.md, attackers) moves
// a patient's received document to their own account, or to another transfer,
// by SQL: the service refuses to open it there (an error, never the plaintext),
// also when the row's binding is flipped back to legacy. Moved back, it opens.
func TestMovedDocumentDoesNotOpen(t *testing.T) {
	e := newEnv(t, true, nil)
	ctx := context.Background()
	tr := e.fetch(t, e.consent(t).ID)
	if tr.Status != transfer.StatusDone {
		t.Fatalf("status %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
	}
	docs, err := e.svc.Documents(ctx, e.actor.UserID, tr.ID)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents: %d, %v", len(docs), err)
	}
	id, attacker := docs[0].ID, uuid.NewString()
	other, err := e.svc.Start(ctx, e.actor, "bron@medmij") // another transfer of the same patient
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, owner, transfer, binding string }{
		{"another account", attacker, tr.ID, "account"},
		{"another account, legacy", attacker, tr.ID, "legacy"},
		{"another transfer", e.actor.UserID, other.ID, "account"},
		{"another transfer, legacy", e.actor.UserID, other.ID, "legacy"},
	} {
		if _, err := e.db.Pool.Exec(ctx, `update transfer_document set user_id = $2, transfer_id = $3, sealed_binding = $4
			where id = $1`, id, c.owner, c.transfer, c.binding); err != nil {
			t.Fatal(err)
		}
		_, r, err := e.svc.OpenDocument(ctx, c.owner, id)
		if err == nil {
			b, rerr := io.ReadAll(r)
			t.Fatalf("moved to %s: the document opened (%d bytes, %v)", c.name, len(b), rerr)
		}
	}
	if _, err := e.db.Pool.Exec(ctx, `update transfer_document set user_id = $2, transfer_id = $3, sealed_binding = 'account'
		where id = $1`, id, e.actor.UserID, tr.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
		t.Fatal("moved back, the document does not open to the source's bytes")
	}
}

// A transfer moved to another account by SQL cannot use its sealed secrets for
// that account: with the token, the fetch fails before asking the source anything
// and stores nothing; with the verifier, the callback in the other account's
// session fails before the code is redeemed. Flipping the row's binding to legacy
// does not help.
func TestMovedTransferCannotUseSecrets(t *testing.T) {
	for _, c := range []struct {
		name   string
		step   string // "fetch" (the token) or "callback" (the verifier)
		legacy bool
	}{
		{"token", "fetch", false},
		{"token, legacy", "fetch", true},
		{"verifier", "callback", false},
		{"verifier, legacy", "callback", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			ctx := context.Background()
			attacker := transfer.Actor{UserID: uuid.NewString(), SessionID: "session-" + uuid.NewString(), RequestID: uuid.NewString()}
			move := func(id string) {
				t.Helper()
				h := sha256.Sum256([]byte(attacker.SessionID))
				if _, err := e.db.Pool.Exec(ctx, `update transfer set user_id = $2, session_hash = $3,
					secret_binding = case when $4 then 'legacy' else secret_binding end where id = $1`,
					id, attacker.UserID, h[:], c.legacy); err != nil {
					t.Fatal(err)
				}
			}
			var tr transfer.Transfer
			if c.step == "fetch" {
				tr = e.consent(t)
				move(tr.ID)
				tr = e.fetch(t, tr.ID)
			} else {
				started, q := e.authorize(t)
				code := e.src.IssueCode(q.Get("code_challenge")) // the patient consented at the source
				move(started.ID)
				var err error
				tr, err = e.svc.HandleCallback(ctx, attacker, transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
				if err != nil {
					t.Fatal(err)
				}
				_ = e.svc.Fetch(ctx, tr.ID, true)
			}
			if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonInternal {
				t.Errorf("moved to another account, the transfer is %s (%s: %s); want failed (internal)", tr.Status, tr.Failure, tr.FailureDetail)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored", n)
			}
			if docs, _ := e.svc.Documents(ctx, attacker.UserID, ""); len(docs) != 0 {
				t.Errorf("the other account has %d documents", len(docs))
			}
			for _, s := range e.src.Seen() {
				if s.Path == "/oauth/token" && c.step == "callback" || strings.Contains(s.Path, "/fhir/") {
					t.Errorf("the source was asked %s %s", s.Method, s.Path)
				}
			}
		})
	}
}

// swapVault is a service's vault that a test replaces after a key rotation.
type swapVault struct{ *vault.Vault }

// A document sealed the old way (its own id, binding legacy) still opens and
// moves to the new key by the key rewrap, keeping its binding; the re-seal moves
// it to the account binding with identical plaintext, and repeating it moves
// nothing. A row changed while it was re-sealed counts as raced and keeps what
// the other writer wrote; one whose account is not its transfer's fails.
func TestLegacyDocumentResealed(t *testing.T) {
	v, keyset := vaulttest.New(t)
	sv := &swapVault{v}
	e := newEnv(t, true, func(c *transfer.Config) { c.Sealer = sv })
	ctx := context.Background()
	tr := e.fetch(t, e.consent(t).ID)
	docs, err := e.svc.Documents(ctx, e.actor.UserID, tr.ID)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents: %d, %v", len(docs), err)
	}
	id := docs[0].ID
	legacy := func(vv *vault.Vault) []byte {
		t.Helper()
		sealed := vaulttest.SealStream(t, vv, id, e.pdf)
		if _, err := e.db.Pool.Exec(ctx, `update transfer_document set sealed = $2, sealed_binding = 'legacy' where id = $1`, id, sealed); err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	row := func() (sealed []byte, binding string) {
		t.Helper()
		if err := e.db.Pool.QueryRow(ctx, `select sealed, sealed_binding from transfer_document where id = $1`, id).Scan(&sealed, &binding); err != nil {
			t.Fatal(err)
		}
		return sealed, binding
	}
	legacy(v)
	if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
		t.Fatal("the legacy document does not open")
	}

	// The key rewrap moves it to the new primary key under its legacy binding.
	if _, err := vault.RotateKeyset(keyset); err != nil {
		t.Fatal(err)
	}
	if sv.Vault, err = vault.Open(keyset); err != nil {
		t.Fatal(err)
	}
	if r, err := e.store.RewrapDocuments(ctx, sv.Vault, "", 10); err != nil || r.Moved != 1 || r.Failed != 0 {
		t.Fatalf("key rewrap of the legacy document: %+v, %v", r, err)
	}
	if sealed, binding := row(); binding != "legacy" || sv.NeedsRewrap(sealed) {
		t.Fatalf("after the key rewrap: binding %s, needs rewrap %v", binding, sv.NeedsRewrap(sealed))
	}
	if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
		t.Fatal("after the key rewrap the legacy document does not open")
	}

	// The re-seal moves it to the account binding; a second run moves nothing.
	before, _ := row()
	if r, err := e.store.ResealDocuments(ctx, sv.Vault, "", 10); err != nil || r.Moved != 1 || r.Raced != 0 || r.Failed != 0 || r.Next != "" {
		t.Fatalf("re-seal: %+v, %v", r, err)
	}
	after, binding := row()
	if binding != "account" || bytes.Equal(after, before) {
		t.Fatalf("after the re-seal: binding %s, ciphertext changed %v", binding, !bytes.Equal(after, before))
	}
	if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
		t.Fatal("the re-sealed document does not open to the same bytes")
	}
	if r, err := e.store.ResealDocuments(ctx, sv.Vault, "", 10); err != nil || r != (store.RewrapResult{}) {
		t.Fatalf("second re-seal: %+v, %v", r, err)
	}
	if r, err := e.store.RewrapDocuments(ctx, sv.Vault, "", 10); err != nil || r.Moved != 0 || r.Failed != 0 {
		t.Fatalf("key rewrap after the re-seal: %+v, %v", r, err)
	}

	// A writer that changes the row while it is re-sealed wins.
	legacy(sv.Vault)
	var theirs []byte
	racer := &racingVault{Vault: sv.Vault, during: func() {
		theirs = legacy(sv.Vault)
	}}
	if r, err := e.store.ResealDocuments(ctx, racer, "", 10); err != nil || r.Raced != 1 || r.Moved != 0 {
		t.Fatalf("re-seal racing a writer: %+v, %v", r, err)
	}
	if sealed, binding := row(); binding != "legacy" || !bytes.Equal(sealed, theirs) {
		t.Fatal("the re-seal overwrote what another writer wrote")
	}

	// A legacy row moved to another account without its transfer is not sealed
	// for that account.
	if _, err := e.db.Pool.Exec(ctx, `update transfer_document set user_id = $2 where id = $1`, id, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if r, err := e.store.ResealDocuments(ctx, sv.Vault, "", 10); err != nil || r.Failed != 1 || r.Moved != 0 {
		t.Fatalf("re-seal of a moved legacy row: %+v, %v", r, err)
	}
	if _, binding := row(); binding != "legacy" {
		t.Fatalf("the moved legacy row was re-sealed (%s)", binding)
	}
}

// racingVault runs during once, when the re-seal opens the document: a
// concurrent writer between the re-seal's read and its write.
type racingVault struct {
	*vault.Vault
	during func()
}

func (r *racingVault) OpenReader(rd io.Reader, objectID string) (io.Reader, error) {
	if r.during != nil {
		r.during()
		r.during = nil
	}
	return r.Vault.OpenReader(rd, objectID)
}

// A transfer in flight when the binding came (its verifier or token sealed the
// old way, secret_binding legacy) still completes: its secrets open by the
// column.
func TestLegacySecretsStillOpen(t *testing.T) {
	v, _ := vaulttest.New(t)
	e := newEnv(t, true, func(c *transfer.Config) { c.Sealer = v })
	ctx := context.Background()
	toLegacy := func(id, column, field string) {
		t.Helper()
		var sealed []byte
		if err := e.db.Pool.QueryRow(ctx, `select `+column+` from transfer where id = $1`, id).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		plain, err := v.Open("transfer/"+e.actor.UserID+"/"+id+"/"+field, sealed)
		if err != nil {
			t.Fatalf("the %s is not sealed for the account: %v", field, err)
		}
		if sealed, err = v.Seal(id+"/"+field, plain); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Pool.Exec(ctx, `update transfer set `+column+` = $2, secret_binding = 'legacy' where id = $1`, id, sealed); err != nil {
			t.Fatal(err)
		}
	}
	started, q := e.authorize(t)
	toLegacy(started.ID, "verifier_sealed", "verifier")
	tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"),
		Code: e.src.IssueCode(q.Get("code_challenge")), Iss: e.src.URL, HasIss: true})
	if err != nil || tr.Status != transfer.StatusAuthorized {
		t.Fatalf("callback with a legacy verifier: %s (%s: %s), %v", tr.Status, tr.Failure, tr.FailureDetail, err)
	}
	if sec, _ := e.store.Secrets(ctx, tr.ID); sec.Binding != transfer.BindingAccount {
		t.Fatalf("the new token's binding is %q", sec.Binding)
	}
	toLegacy(tr.ID, "token_sealed", "token")
	if tr = e.fetch(t, tr.ID); tr.Status != transfer.StatusDone {
		t.Fatalf("fetch with a legacy token: %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
	}
	if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
		t.Fatal("the document does not open")
	}
	if len(e.src.Revoked()) != 1 {
		t.Errorf("revoked %d tokens, want 1", len(e.src.Revoked()))
	}
	if _, ok := transfertest.Query(e.src.Seen(), "/51/fhir/DocumentReference"); !ok {
		t.Error("no DocumentReference search")
	}
}
