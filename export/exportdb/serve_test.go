package exportdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// storeDoc stores doc as the ready document of a new job of f.user, sealed with
// StreamSeal as the render task seals it.
func storeDoc(t testing.TB, f *fixture, doc []byte) export.Job {
	t.Helper()
	return storeSealed(t, f, doc, func(id string) []byte {
		sealed, err := export.StreamSeal{V: f.vault}.Seal(id, doc)
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	})
}

// storeSealed stores what seal makes of doc for the job's id as the ready
// document of a new job of f.user, with doc's size and hashes.
func storeSealed(t testing.TB, f *fixture, doc []byte, seal func(id string) []byte) export.Job {
	t.Helper()
	job := f.request(t)
	if _, err := f.store.Start(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	sealed := seal(job.ID)
	res := export.Result{Pages: 1, Size: int64(len(doc)), SHA256: sha256.Sum256(doc), SHA1: sha1.Sum(doc)}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem,
		ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if ok, err := f.store.Finish(context.Background(), job.ID, res, sealed, ev); err != nil || !ok {
		t.Fatal(ok, err)
	}
	return f.job(t, job.ID)
}

// A document of several slices streams back whole through Serving.Open (vault
// stream, read in 1 MiB slices); a document whose stored facts differ fails at the
// end instead of ending cleanly; an older in-memory ciphertext still opens.
func TestServingStreamsDocument(t *testing.T) {
	f := newFixture(t)
	serving := export.NewServing(export.ServingConfig{Store: f.store, Opener: export.StreamSeal{V: f.vault}, Source: "PGO Noord"})
	doc := make([]byte, 3*exportdb.SliceSize+12345)
	_, _ = rand.Read(doc)
	job := storeDoc(t, f, doc)
	rc, err := serving.Open(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("stream: %v, %d bytes", err, len(got))
	}
	// A job row that disagrees with the document's declaration is refused before
	// the first byte (and before the endpoint's headers), in size or in SHA-256.
	wrongSum, wrongSize := job, job
	wrongSum.SHA256[0] ^= 1
	wrongSize.Size--
	for name, j := range map[string]export.Job{"sha256": wrongSum, "size": wrongSize} {
		if rc, err := serving.Open(context.Background(), j); pgo.ErrorCode(err) != pgo.EINTERNAL || rc != nil {
			t.Fatalf("a job row whose %s differs from its document opened: %v", name, err)
		}
	}
	// A stream sealed before documents declared themselves is hashed as it is
	// served: whole when the job matches, failing at its end when it does not.
	undeclared := storeSealed(t, f, doc, func(id string) []byte { return vaulttest.SealStream(t, f.vault, id, doc) })
	rc, err = serving.Open(context.Background(), undeclared)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("undeclared stream: %v, %d bytes", err, len(got))
	}
	undeclared.SHA256[0] ^= 1
	rc, err = serving.Open(context.Background(), undeclared)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("an undeclared document that does not match its SHA-256 read as complete")
	}
	rc.Close()
	// Sealed in one piece before StreamSeal (vault.Seal): opened whole.
	old := f.request(t)
	if _, err := f.store.Start(context.Background(), old.ID); err != nil {
		t.Fatal(err)
	}
	blob, _ := f.vault.Seal(old.ID, []byte("%PDF-1.7 small"))
	res := export.Result{Pages: 1, Size: 14, SHA256: sha256.Sum256([]byte("%PDF-1.7 small")), SHA1: sha1.Sum([]byte("%PDF-1.7 small"))}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: old.ID}
	if _, err := f.store.Finish(context.Background(), old.ID, res, blob, ev); err != nil {
		t.Fatal(err)
	}
	rc, err = serving.Open(context.Background(), f.job(t, old.ID))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "%PDF-1.7 small" {
		t.Fatalf("blob: %v %q", err, b)
	}
	// Not rendered: no document.
	if _, err := serving.Open(context.Background(), f.request(t)); pgo.ErrorCode(err) != pgo.ECONFLICT {
		t.Fatalf("queued: %v", err)
	}
}

// StreamSeal puts the document's size and SHA-256 in front of its bytes, inside
// the encryption ("pgo-decl", 8 bytes of size, 32 of SHA-256), and Open returns
// the document without it. A declaration that disagrees with the bytes (possible
// only with the vault's key) or is cut short does not open, whole or served.
func TestStreamSealDeclaresItsDocument(t *testing.T) {
	f := newFixture(t)
	seal := export.StreamSeal{V: f.vault}
	doc := make([]byte, exportdb.SliceSize+777)
	_, _ = rand.Read(doc)
	sealed, err := seal.Seal("job-1", doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := seal.OpenReader(bytes.NewReader(sealed), "job-1")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	want := append(binary.BigEndian.AppendUint64([]byte("pgo-decl"), uint64(len(doc))), sum[:]...)
	if !bytes.HasPrefix(plain, want) || !bytes.Equal(plain[len(want):], doc) {
		t.Fatalf("sealed plaintext starts %q, want the declaration %q and the document", plain[:min(len(plain), 48)], want)
	}
	if got, err := seal.Open("job-1", sealed); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("open: %v, %d bytes", err, len(got))
	}
	if _, err := seal.Open("job-2", sealed); !errors.Is(err, vault.ErrDecrypt) {
		t.Fatalf("another job's id: %v", err)
	}

	serving := export.NewServing(export.ServingConfig{Store: f.store, Opener: seal})
	other := sha256.Sum256([]byte("another document"))
	forged := append(binary.BigEndian.AppendUint64([]byte("pgo-decl"), uint64(len(doc))), other[:]...)
	short := want[:30]
	for name, head := range map[string][]byte{"a declaration of other bytes": forged, "a declaration cut short": short} {
		if _, err := seal.Open("job-1", vaulttest.SealStream(t, f.vault, "job-1", head, doc)); err == nil {
			t.Errorf("%s opened whole", name)
		}
		job := storeSealed(t, f, doc, func(id string) []byte { return vaulttest.SealStream(t, f.vault, id, head, doc) })
		if name == "a declaration of other bytes" {
			job.SHA256 = other // the row agrees with the declaration: served as declared
			if rc, err := serving.Open(context.Background(), job); err != nil {
				t.Fatalf("%s agreeing with its row: %v", name, err)
			} else {
				rc.Close()
			}
			continue
		}
		if rc, err := serving.Open(context.Background(), job); pgo.ErrorCode(err) != pgo.EINTERNAL || rc != nil {
			t.Errorf("%s was served: %v", name, err)
		}
	}
	// A document shorter than a declaration, sealed without one, opens as it is.
	tiny := storeSealed(t, f, []byte("%PDF"), func(id string) []byte { return vaulttest.SealStream(t, f.vault, id, []byte("%PDF")) })
	rc, err := serving.Open(context.Background(), tiny)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || string(b) != "%PDF" {
		t.Fatalf("tiny undeclared: %v %q", err, b)
	}
	rc.Close()
}

// Await returns a final job at once and a rendering one when the hold has passed.
func TestServingAwait(t *testing.T) {
	f := newFixture(t)
	serving := export.NewServing(export.ServingConfig{Store: f.store, Opener: export.StreamSeal{V: f.vault}, Poll: time.Millisecond})
	ready := storeDoc(t, f, []byte("%PDF-1.7 x"))
	if j, err := serving.Await(context.Background(), ready.ID, time.Hour); err != nil || j.Status != export.StatusReady {
		t.Fatalf("ready: %v %s", err, j.Status)
	}
	queued := f.request(t)
	if j, err := serving.Await(context.Background(), queued.ID, 5*time.Millisecond); err != nil || j.Status != export.StatusQueued {
		t.Fatalf("queued: %v %s", err, j.Status)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := serving.Await(ctx, queued.ID, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := serving.Await(context.Background(), "nope", 0); pgo.ErrorCode(err) != pgo.EINVALID {
		t.Fatalf("bad id: %v", err)
	}
	// Retry-After after a request held for held: 0 (the next request is held
	// again and woken by the render's commit), whatever the pace so far; 1 s when
	// the answer was not held (the peer would otherwise ask again at once).
	for _, c := range []struct {
		held time.Duration
		want time.Duration
	}{
		{time.Second, 0}, {20 * time.Second, 0}, {0, time.Second}, {500 * time.Millisecond, time.Second},
	} {
		if d := serving.RetryAfter(c.held); d != c.want {
			t.Errorf("held %s: Retry-After %v; want %v", c.held, d, c.want)
		}
	}
}

// After the grace period: documents of ended grants (or of expired last tokens)
// are deleted with an export_deleted record each; live ones stay; a second run
// deletes nothing more.
func TestDeleteExpiredAfterGrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	ended := storeDoc(t, f, []byte("%PDF ended"))
	expired := storeDoc(t, f, []byte("%PDF expired"))
	live := storeDoc(t, f, []byte("%PDF live"))
	unused := storeDoc(t, f, []byte("%PDF never fetched"))
	if err := f.db.WithTx(ctx, func(tx pgx.Tx) error { return f.store.EndGrant(ctx, tx, ended.ID, now.Add(-2*time.Hour)) }); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Served(ctx, expired.ID, now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Served(ctx, expired.ID, now.Add(-90*time.Minute)); err != nil { // the later token counts
		t.Fatal(err)
	}
	if err := f.store.Served(ctx, live.ID, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := f.store.DeleteExpired(ctx, now.Add(-time.Hour), 50)
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	for id, want := range map[string]int{ended.ID: 0, expired.ID: 0, live.ID: 1, unused.ID: 1} {
		if f.documents(t, id) != want {
			t.Errorf("%s: documents %d, want %d", id, f.documents(t, id), want)
		}
		if got := f.audits(t, string(audit.ActExportDeleted), id); got != 1-want {
			t.Errorf("%s: %d export_deleted records", id, got)
		}
	}
	if n, err := f.store.DeleteExpired(ctx, now.Add(-time.Hour), 50); err != nil || n != 0 {
		t.Fatalf("second run: %d %v", n, err)
	}
	if _, err := f.store.SealedReader(ctx, ended.ID); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Fatalf("deleted document: %v", err)
	}
}

// A key rotation moves stream-sealed documents with StreamSeal as the rewrapper;
// they still open afterwards.
func TestRewrapStreamSealedDocument(t *testing.T) {
	f := newFixture(t)
	doc := make([]byte, exportdb.SliceSize+7)
	_, _ = rand.Read(doc)
	job := storeDoc(t, f, doc)
	if _, err := vault.RotateKeyset(f.keyset); err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	r, err := f.store.RewrapDocuments(context.Background(), export.StreamSeal{V: f.vault}, "", 10)
	if err != nil || r.Moved != 1 || r.Failed != 0 {
		t.Fatalf("rewrap %+v %v", r, err)
	}
	serving := export.NewServing(export.ServingConfig{Store: f.store, Opener: export.StreamSeal{V: f.vault}})
	rc, err := serving.Open(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("after rewrap: %v", err)
	}
	var sealed []byte
	_ = f.db.Pool.QueryRow(context.Background(), `select sealed from export_document where job_id = $1`, job.ID).Scan(&sealed)
	if f.vault.NeedsRewrap(sealed) {
		t.Fatal("still under the old key")
	}
}
