package store

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// roundTrips counts what a pool sends to PostgreSQL and waits for: each
// statement (Exec, Query, QueryRow, and so begin and commit too), each batch
// (its statements travel together) and each COPY. Statement preparation on a
// connection's first use of a statement is not counted. It is a pgx tracer, so
// that every query of every adapter is counted without their help.
type roundTrips struct{ n atomic.Uint64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// RoundTrips is how many statements, batches and COPYs this pool has sent since
// it was opened (pgo_db_round_trips_total): divided by the work done, it is what
// each unit of work costs in waits on PostgreSQL (pgo bench transfer prints it
// per transfer and process).
func (db *DB) RoundTrips() uint64 {
	if db.trips == nil {
		return 0
	}
	return db.trips.n.Load()
}
