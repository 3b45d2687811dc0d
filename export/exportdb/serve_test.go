package exportdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
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
)

// storeDoc stores doc as the ready document of a new job of f.user, sealed with
// StreamSeal as the render task seals it.
func storeDoc(t testing.TB, f *fixture, doc []byte) export.Job {
	t.Helper()
	job := f.request(t)
	if _, err := f.store.Start(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	sealed, err := export.StreamSeal{V: f.vault}.Seal(job.ID, doc)
	if err != nil {
		t.Fatal(err)
	}
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
	wrong := job
	wrong.SHA256[0] ^= 1
	rc, _ = serving.Open(context.Background(), wrong)
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("a document that does not match its SHA-256 read as complete")
	}
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
