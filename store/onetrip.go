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
// in a batch that aborts the transaction and skips the rest of the batch,
// commit included. NoChange tells that error.
func ExpectChange(sql string) string {
	return `with c as (` + sql + ` returning 1) select pgo_expect_change(count(*)) from c`
}

// NoChange reports whether err is the refusal of an ExpectChange statement.
func NoChange(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == CodeNoChange
}

// BatchTx is a transaction sent as pgx batches on one connection (DB.InBatches):
// its begin travels with the first batch and its commit with the last, so a
// transaction of n batches costs n round trips (issue 16: begin and commit were
// one each). A statement that fails aborts the transaction on the server,
// which skips the rest of its batch, commit included; InBatches then ends it
// with a rollback, a round trip on that path only.
type BatchTx struct {
	conn  *pgx.Conn
	begun bool
}

// Conn is the transaction's connection (for helpers such as auditdb.Queue that
// look at it). Statements must go through Send and Commit.
func (t *BatchTx) Conn() *pgx.Conn { return t.conn }

// Send sends b (with begin before it when it is the first) and reads the
// results of b's statements with read, in the order queued.
func (t *BatchTx) Send(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	return t.send(ctx, b, read, false)
}

// Commit sends b (nil: no statements) with commit after it, and reads the
// results of b's statements with read (nil when b is nil).
func (t *BatchTx) Commit(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if b == nil {
		b = &pgx.Batch{}
	}
	return t.send(ctx, b, read, true)
}

func (t *BatchTx) send(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error, commit bool) error {
	first := !t.begun
	if first {
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: `begin`}}, b.QueuedQueries...)
		t.begun = true
	}
	if commit {
		b.Queue(`commit`)
	}
	res := t.conn.SendBatch(ctx, b)
	defer res.Close()
	if first {
		if _, err := res.Exec(); err != nil {
			return err
		}
	}
	if read != nil {
		if err := read(res); err != nil {
			return err
		}
	}
	if commit {
		if _, err := res.Exec(); err != nil {
			return err
		}
	}
	return res.Close()
}

// InBatches runs fn's transaction on a connection of the pool. fn ends it with
// Commit; a transaction left open (fn returned early or a statement failed) is
// rolled back. Errors come back as PostgreSQL gave them (not mapped by Error),
// so that the caller can tell NoChange. Unlike WithTx it does not rerun fn on a
// serialization failure.
func (db *DB) InBatches(ctx context.Context, fn func(t *BatchTx) error) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection released inside a transaction is closed by the pool.
	defer conn.Release()
	err = fn(&BatchTx{conn: conn.Conn()})
	if conn.Conn().PgConn().TxStatus() != 'I' {
		if _, rerr := conn.Exec(ctx, `rollback`); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// OneTrip runs a transaction in one round trip: begin, the statements queue
// puts into b and commit travel together, and read reads the results of
// queue's statements in the order queued (conn is the connection, for helpers
// such as auditdb.Queue that look at it). It is for transactions whose
// statements do not depend on what an earlier one returned: a decision in
// between needs InBatches or WithTx (or a check in SQL, such as ExpectChange).
func (db *DB) OneTrip(ctx context.Context, queue func(b *pgx.Batch, conn *pgx.Conn) (read func(pgx.BatchResults) error, err error)) error {
	return db.InBatches(ctx, func(t *BatchTx) error {
		b := &pgx.Batch{}
		read, err := queue(b, t.Conn())
		if err != nil {
			return err
		}
		return t.Commit(ctx, b, read)
	})
}
