// Package store owns the PostgreSQL connection pool, transactions, the mapping of
// database errors onto the project's error codes, migrations and the transactional
// outbox. Each domain's SQL lives in its own db sub-package (auditdb, zaldb, ...).
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgo-koppelvlak/pgo"
)

// DB is the pool every adapter shares.
type DB struct {
	Pool  *pgxpool.Pool
	url   string
	trips *roundTrips
}

// DefaultMaxConns is the pool size when PGO_DATABASE_URL sets no pool_max_conns.
// Keep processes x this under PostgreSQL's max_connections (100 by default).
const DefaultMaxConns = 8

// Open connects to PostgreSQL and checks the connection once.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "PGO_DATABASE_URL is not a valid PostgreSQL URL")
	}
	// pgxpool's default, max(4, CPUs), is 4 here: too few for a server whose
	// requests mostly wait on PostgreSQL round trips (the token bench's eight
	// connections queued for four). pool_max_conns in the URL still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, DefaultMaxConns)
	}
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, Error(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, Error(err)
	}
	return &DB{Pool: pool, url: url, trips: trips}, nil
}

// URL returns the connection URL the pool was opened with (for LISTEN connections).
func (db *DB) URL() string { return db.url }

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that PostgreSQL answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error { return Error(db.Pool.Ping(ctx)) }

// WithTx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. A serialization failure or deadlock reruns fn (up to three attempts),
// so fn must only touch the database through tx. Errors come back mapped by Error.
func (db *DB) WithTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.withTx(ctx, pgx.TxOptions{}, fn)
}

// WithSerializableTx is WithTx at SERIALIZABLE isolation.
func (db *DB) WithSerializableTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.withTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
}

func (db *DB) withTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = pgx.BeginTxFunc(ctx, db.Pool, opts, fn)
		if !retryable(err) {
			break
		}
	}
	return Error(err)
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Error maps a pgx or PostgreSQL error onto the project's error codes. It is the one
// place that knows PostgreSQL's SQLSTATEs; *pgo.Error values pass through unchanged.
func Error(err error) error {
	if err == nil {
		return nil
	}
	var perr *pgo.Error
	if errors.As(err, &perr) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return pgo.Wrap(pgo.EUNAVAILABLE, err, "The database did not answer in time.")
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return pgo.Wrap(pgo.ENOTFOUND, err, "Not found.")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return pgo.Wrap(pgo.ECONFLICT, err, "This already exists.")
		case pe.Code == "23503":
			return pgo.Wrap(pgo.ECONFLICT, err, "This refers to something that does not exist.")
		case pe.Code == "40001" || pe.Code == "40P01":
			return pgo.Wrap(pgo.ECONFLICT, err, "A concurrent change interfered; please try again.")
		case pe.Code == "55P03":
			return pgo.Wrap(pgo.ECONFLICT, err, "This is being changed by someone else; please try again.")
		case pe.Code[:2] == "22" || pe.Code == "23502" || pe.Code == "23514":
			return pgo.Wrap(pgo.EINVALID, err, "The data does not meet the database's constraints.")
		case pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300":
			return pgo.Wrap(pgo.EUNAVAILABLE, err, "The database is not available.")
		}
		return pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return pgo.Wrap(pgo.EUNAVAILABLE, err, "The database is not available.")
	}
	return pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("store: %w", err), "")
}
