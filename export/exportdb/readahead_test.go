package exportdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
)

// The sealed reader reads ahead (one slice beyond the one being consumed): the
// bytes still come back exactly, in odd-sized reads; closing it with a read-ahead
// in flight returns, and it can be opened again; a deleted document is not found.
func TestSealedReaderReadAhead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	doc := make([]byte, 2*exportdb.SliceSize+777)
	_, _ = rand.Read(doc)
	job := storeDoc(t, f, doc)
	var sealed []byte
	if err := f.db.Pool.QueryRow(ctx, `select sealed from export_document where job_id = $1`, job.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	rc, err := f.store.SealedReader(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 99991) // not a divisor of the slice size
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{rc}, buf); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !bytes.Equal(got.Bytes(), sealed) {
		t.Fatalf("read %d bytes, stored %d, or they differ", got.Len(), len(sealed))
	}
	// closed after the first slice, while the second is read ahead
	rc, err = f.store.SealedReader(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `delete from export_document where job_id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SealedReader(ctx, job.ID); err == nil {
		t.Fatal("a deleted document opened")
	}
}

// RecordServed commits the download's audit record and the job's serve_until
// together; an earlier token's expiry never moves serve_until back.
func TestRecordServed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	job := storeDoc(t, f, []byte("%PDF served"))
	later, earlier := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond), time.Now().Add(time.Minute)
	ev := audit.Event{Action: audit.ActDocumentFetched, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorPeer,
		ActorID: "zuid.localhost", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	for _, until := range []time.Time{later, earlier} {
		if err := f.store.RecordServed(ctx, ev, job.ID, until); err != nil {
			t.Fatal(err)
		}
	}
	var got time.Time
	if err := f.db.Pool.QueryRow(ctx, `select serve_until from export_job where id = $1`, job.ID).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(later) {
		t.Errorf("serve_until %v, want %v", got, later)
	}
	if n := f.audits(t, string(audit.ActDocumentFetched), job.ID); n != 2 {
		t.Errorf("%d document_fetched records, want 2", n)
	}
	// an invalid audit record rolls the serve_until change back with it
	bad := ev
	bad.Action = ""
	if err := f.store.RecordServed(ctx, bad, job.ID, later.Add(time.Hour)); err == nil {
		t.Fatal("an invalid audit record was accepted")
	}
	_ = f.db.Pool.QueryRow(ctx, `select serve_until from export_job where id = $1`, job.ID).Scan(&got)
	if !got.Equal(later) {
		t.Errorf("serve_until moved to %v without its audit record", got)
	}
}
