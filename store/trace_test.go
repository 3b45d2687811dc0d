package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Every statement, batch and COPY a pool sends is one round trip; a
// transaction's begin and commit are one each.
func TestRoundTripsCounted(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	step := func(what string, want uint64, fn func() error) {
		t.Helper()
		before := db.RoundTrips()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := db.RoundTrips() - before; got != want {
			t.Errorf("%s: %d round trips; want %d", what, got, want)
		}
	}
	step("create table", 1, func() error {
		_, err := db.Pool.Exec(ctx, `create table rt (n int)`)
		return err
	})
	step("a batch of three", 1, func() error {
		b := &pgx.Batch{}
		for i := range 3 {
			b.Queue(`insert into rt values ($1)`, i)
		}
		return db.Pool.SendBatch(ctx, b).Close()
	})
	step("transaction with one statement", 3, func() error {
		return db.WithTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `insert into rt values (9)`)
			return err
		})
	})
	step("copy", 1, func() error {
		_, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"rt"}, []string{"n"}, pgx.CopyFromRows([][]any{{1}, {2}}))
		return err
	})
	var n int
	step("query row", 1, func() error { return db.Pool.QueryRow(ctx, `select count(*) from rt`).Scan(&n) })
	if n != 6 {
		t.Errorf("%d rows; want 6", n)
	}
}
