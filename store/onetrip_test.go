package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// OneTrip commits its statements in one round trip; a compare-and-set that
// changes nothing, or a statement that fails, aborts the whole transaction
// (nothing written, a rollback round trip more) and leaves the pool usable.
func TestOneTrip(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	if _, err := db.Pool.Exec(ctx, `create table box (id int primary key, state text not null);
		create table note (box int not null, text text not null check (text <> ''))`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `insert into box values (1, 'open')`); err != nil {
		t.Fatal(err)
	}
	// move closes box 1 when it is in state from and writes a note with it.
	move := func(from, text string) (trips uint64, err error) {
		before := db.RoundTrips()
		err = db.OneTrip(ctx, func(b *pgx.Batch, _ *pgx.Conn) (func(pgx.BatchResults) error, error) {
			b.Queue(store.ExpectChange(`update box set state = 'closed' where id = 1 and state = $1`), from)
			b.Queue(`insert into note values (1, $1)`, text)
			return func(res pgx.BatchResults) error {
				for range 2 {
					if _, err := res.Exec(); err != nil {
						return err
					}
				}
				return nil
			}, nil
		})
		return db.RoundTrips() - before, err
	}
	state := func() (string, int) {
		t.Helper()
		var s string
		var n int
		if err := db.Pool.QueryRow(ctx, `select state, (select count(*) from note) from box where id = 1`).Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		return s, n
	}

	// A failing statement after the compare-and-set: nothing written.
	trips, err := move("open", "")
	if err == nil || store.NoChange(err) || pgo.ErrorCode(store.Error(err)) != pgo.EINVALID {
		t.Fatalf("empty note: %v; want the check constraint's error", err)
	}
	if s, n := state(); s != "open" || n != 0 || trips != 2 {
		t.Fatalf("after a failed statement: %s, %d notes, %d round trips; want open, 0, 2", s, n, trips)
	}
	// The compare-and-set wins: both written, one round trip.
	if trips, err := move("open", "closed it"); err != nil || trips != 1 {
		t.Fatalf("move: %v, %d round trips; want nil, 1", err, trips)
	}
	// It loses: NoChange, the note not written.
	trips, err = move("open", "again")
	if !store.NoChange(err) {
		t.Fatalf("second move: %v; want NoChange", err)
	}
	if s, n := state(); s != "closed" || n != 1 || trips != 2 {
		t.Fatalf("after a lost compare-and-set: %s, %d notes, %d round trips; want closed, 1, 2", s, n, trips)
	}
	// Every connection is back in the pool idle, or closed: a plain query works.
	for range 10 {
		var one int
		if err := db.Pool.QueryRow(ctx, `select 1`).Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
}

// InBatches: begin travels with the first batch and commit with the last; a
// transaction fn leaves open (an early return, a failed statement) is rolled
// back and writes nothing.
func TestInBatches(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	if _, err := db.Pool.Exec(ctx, `create table item (n int primary key)`); err != nil {
		t.Fatal(err)
	}
	exec := func(res pgx.BatchResults) error { _, err := res.Exec(); return err }
	insert := func(n int) *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(`insert into item values ($1)`, n)
		return b
	}
	count := func() (n int) {
		t.Helper()
		if err := db.Pool.QueryRow(ctx, `select count(*) from item`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(what string, wantTrips uint64, fn func(tx *store.BatchTx) error) error {
		t.Helper()
		before := db.RoundTrips()
		err := db.InBatches(ctx, fn)
		if n := db.RoundTrips() - before; n != wantTrips {
			t.Errorf("%s: %d round trips; want %d", what, n, wantTrips)
		}
		return err
	}
	if err := run("two batches", 2, func(tx *store.BatchTx) error {
		if err := tx.Send(ctx, insert(1), exec); err != nil {
			return err
		}
		return tx.Commit(ctx, insert(2), exec)
	}); err != nil || count() != 2 {
		t.Fatalf("two batches: %v, %d rows", err, count())
	}
	if err := run("left open", 2, func(tx *store.BatchTx) error {
		return tx.Send(ctx, insert(3), exec) // no Commit: rolled back
	}); err != nil || count() != 2 {
		t.Fatalf("left open: %v, %d rows; want nil, 2", err, count())
	}
	err := run("failed statement", 3, func(tx *store.BatchTx) error {
		if err := tx.Send(ctx, insert(4), exec); err != nil {
			return err
		}
		return tx.Commit(ctx, insert(1), exec) // duplicate key: commit skipped
	})
	if pgo.ErrorCode(store.Error(err)) != pgo.ECONFLICT || count() != 2 {
		t.Fatalf("failed statement: %v, %d rows; want a conflict, 2", err, count())
	}
	if err := run("commit only", 1, func(tx *store.BatchTx) error { return tx.Commit(ctx, nil, nil) }); err != nil {
		t.Fatal(err)
	}
}
