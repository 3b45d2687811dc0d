package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CodeNoChange is the SQLSTATE of pgo_expect_change (migration 017): the
// compare-and-set statement it ends changed no row.
const CodeNoChange = "PGO03"

// ExpectChange wraps a compare-and-set statement (an UPDATE or INSERT ...
// without RETURNING) so that it raises CodeNoChange when it changed no row:
// in a OneTrip transaction that aborts the rest of the batch, commit included,
// and OneTrip reports it as NoChange.
func ExpectChange(sql string) string {
	return `with c as (` + sql + ` returning 1) select pgo_expect_change(count(*)) from c`
}

// NoChange reports whether err is the refusal of an ExpectChange statement.
func NoChange(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == CodeNoChange
}

// OneTrip runs a transaction in one round trip: begin, the statements queue
// puts into b and commit travel together in one pgx batch, and read reads the
// results of queue's statements in the order queued (conn is the connection,
// for helpers such as auditdb.Queue that look at it). A statement that fails
// aborts the transaction on the server, which skips the rest of the batch,
// commit included; the rollback that ends it is a second round trip, on that
// path only. The error comes back as PostgreSQL gave it (not mapped by Error),
// so that the caller can tell NoChange.
//
// It is for transactions whose statements do not depend on what an earlier one
// returned: a decision in between needs WithTx (or a check in SQL, such as
// ExpectChange). Unlike WithTx it does not rerun on a serialization failure.
func (db *DB) OneTrip(ctx context.Context, queue func(b *pgx.Batch, conn *pgx.Conn) (read func(pgx.BatchResults) error, err error)) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection released inside a transaction is closed by the pool.
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`begin`)
	read, err := queue(b, conn.Conn())
	if err != nil {
		return err
	}
	b.Queue(`commit`)
	res := conn.SendBatch(ctx, b)
	err = func() error {
		defer res.Close()
		if _, err := res.Exec(); err != nil {
			return err
		}
		if err := read(res); err != nil {
			return err
		}
		_, err := res.Exec()
		return err
	}()
	if conn.Conn().PgConn().TxStatus() != 'I' {
		if _, rerr := conn.Exec(ctx, `rollback`); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
