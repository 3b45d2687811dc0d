package exportdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
)

// The sealed reader reads ahead (one slice beyond the one being consumed): the
// bytes still come back exactly, in odd-sized reads; closing it with a read-ahead
// in flight returns, and it can be opened again; a deleted document is not found.
// With all but one of the pool's connections taken it reads no slice ahead (the
// last stays for other work) and still returns every byte.
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
	if n := exportdb.ReadAheadInFlight(rc); n != 1 {
		t.Fatalf("%d slices read ahead with the pool idle, want 1", n)
	}
	readAll(t, rc, sealed)

	// all but one connection taken: no read-ahead, every byte still read
	var held []*pgxpool.Conn
	t.Cleanup(func() { // a failure must not leave the pool's Close waiting for them
		for _, c := range held {
			c.Release()
		}
	})
	for f.db.Pool.Stat().AcquiredConns()+1 < f.db.Pool.Stat().MaxConns() {
		c, err := f.db.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	if rc, err = f.store.SealedReader(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if n := exportdb.ReadAheadInFlight(rc); n != 0 {
		t.Fatalf("%d slices read ahead with %d of %d connections taken, want 0", n, len(held), f.db.Pool.Stat().MaxConns())
	}
	readAll(t, rc, sealed)
	for _, c := range held {
		c.Release()
	}
	held = nil

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

// readAll reads rc in odd-sized reads, closes it and compares with want.
func readAll(t *testing.T, rc io.ReadCloser, want []byte) {
	t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 99991) // not a divisor of the slice size
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{rc}, buf); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, stored %d, or they differ", got.Len(), len(want))
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
