// Package auditdb stores the audit log (package audit) in PostgreSQL: the one write
// path Append, the auditor queries, verification, signed checkpoints and retention.
package auditdb

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Append writes ev as the next record of the chain, inside the caller's transaction:
// the state change and its audit record commit together or not at all. It fills
// ev.Time (UTC, microseconds) when zero, validates the event (closed action list,
// outcome with reason, actor; audit.Event.Validate), and links the record to the
// chain: seq = head + 1, prev hash = head hash, hash = SHA-256 of the canonical
// encoding (audit.Record.Canonical).
//
// Concurrency: Append locks the single row of audit_chain_head (SELECT ... FOR
// UPDATE) and that lock is held until the caller's transaction ends. That is what
// keeps the chain one line under any number of writers — two transactions can never
// both follow the same head — and a rolled-back transaction leaves neither a record
// nor a gap. The cost: appends are serialized, so every transaction that has
// appended blocks the next appender until it commits. Append last, just before
// commit, and keep the rest of the transaction short; do not take other locks after
// Append (that order could deadlock with a transaction that holds them and waits
// here). BenchmarkAppend on the shared 2-core development machine (fsync on, runs
// vary with disk load): 200-1000 appends/s with one writer and 330-800/s with 16,
// against 360-2700/s and 2400-3600/s for the same transactions without the chain.
// More writers add waiting, not throughput: it is capped near one commit latency per
// append, ample for a PGO's human-paced transfers. If that ever binds,
// the way out is sealing the chain after commit (a sealer that links committed rows
// in order), at the price of a window in which the newest records are not chained.
// Under REPEATABLE READ or SERIALIZABLE a head changed since the snapshot makes the
// lock fail with a serialization error (never a fork). WithSerializableTx retries
// it, but with 10 concurrent serializable appenders about half still end in
// ECONFLICT after three attempts (TestAppendSerializableNeverForks): audit from
// READ COMMITTED transactions (store.DB.WithTx), where the lock simply waits.
func Append(ctx context.Context, tx pgx.Tx, ev audit.Event) error {
	_, err := appendAt(ctx, tx, ev, time.Time{})
	return err
}

// Record writes one audit record in a transaction of its own, for events that
// change no other state (audit_viewed, login_failed, ...).
func Record(ctx context.Context, db *store.DB, ev audit.Event) error {
	return db.WithTx(ctx, func(tx pgx.Tx) error { return Append(ctx, tx, ev) })
}

// appendAt is Append with the store clock replaced by at when not zero (tests write
// records "in the past" to exercise retention).
func appendAt(ctx context.Context, tx pgx.Tx, ev audit.Event, at time.Time) (*audit.Record, error) {
	if err := ev.Normalize(time.Now()).Validate(); err != nil {
		return nil, err
	}
	var head audit.Anchor
	var headHash []byte
	var headRecorded time.Time
	err := tx.QueryRow(ctx, `select seq, hash, recorded from audit_chain_head for update`).
		Scan(&head.Seq, &headHash, &headRecorded)
	if err != nil {
		return nil, store.Error(err)
	}
	if head.Hash, err = audit.HashFromBytes(headHash); err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("audit chain head: %w", err), "")
	}
	now := at
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Microsecond)
	if now.Before(headRecorded) { // clocks of several instances may differ a little
		now = headRecorded.UTC()
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	r := &audit.Record{Event: ev.Normalize(now), ID: id.String(), Seq: head.Seq + 1, Recorded: now, PrevHash: head.Hash}
	keys := chainKeys.Load()
	if keys != nil {
		r.MACKey = (*keys).primary
	}
	if err := r.Seal(keysOf(keys)); err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	if err := insert(ctx, tx, r); err != nil {
		return nil, err
	}
	return r, nil
}

const insertSQL = `insert into audit_log (id, seq, recorded, event_time, action, outcome, reason,
	person_id, actor_type, actor_id, role, object_type, object_id, object_hashes, source_ip,
	user_agent, request_id, correlation_id, details, mac_key, prev_hash, hash)
	values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)`

// insert sends the partition check, the row and the new head in one round trip.
func insert(ctx context.Context, tx pgx.Tx, r *audit.Record) error {
	b := &pgx.Batch{}
	b.Queue(`select audit_ensure_partition($1)`, r.Recorded)
	b.Queue(insertSQL, r.ID, r.Seq, r.Recorded, r.Time, string(r.Action), string(r.Outcome), r.Reason,
		r.PersonID, string(r.ActorType), r.ActorID, string(r.Role), r.ObjectType, r.ObjectID,
		jsonMap(r.ObjectHashes), r.SourceIP, r.UserAgent, r.RequestID, r.CorrelationID,
		jsonMap(r.Details), int64(r.MACKey), r.PrevHash[:], r.Hash[:])
	b.Queue(`update audit_chain_head set seq = $1, hash = $2, recorded = $3 where seq = $4`,
		r.Seq, r.Hash[:], r.Recorded, r.Seq-1)
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return store.Error(err)
	}
	if _, err := res.Exec(); err != nil {
		return store.Error(err)
	}
	tag, err := res.Exec()
	if err != nil {
		return store.Error(err)
	}
	if tag.RowsAffected() != 1 {
		return pgo.Wrap(pgo.ECONFLICT, fmt.Errorf("audit chain head moved under seq %d", r.Seq), "A concurrent change interfered; please try again.")
	}
	return res.Close()
}

// jsonMap stores an empty map as SQL NULL, so that nil and empty read back alike.
func jsonMap(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}
