package auditdb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// MinRetention is NFR032's floor: audit records are kept at least five years.
const MinRetention = 5 * 365 * 24 * time.Hour

// Checkpoint signs the current chain head (the newest linked record's chain
// position, hash and recorded time) and stores the JWS; records not linked yet
// are in a later checkpoint. A second call without new records returns the stored one (created false).
func Checkpoint(ctx context.Context, db *store.DB, signer audit.Signer) (cp audit.Checkpoint, created bool, err error) {
	// Link what is committed first (unless a linker is at it), so the checkpoint
	// covers it.
	if _, _, err := Link(ctx, db); err != nil {
		return cp, false, err
	}
	head, rec, err := Head(ctx, db.Pool)
	if err != nil {
		return cp, false, err
	}
	if head.Seq == 0 {
		return cp, false, pgo.Errorf(pgo.ECONFLICT, "the audit log is empty: nothing to checkpoint")
	}
	cp = audit.Checkpoint{Type: audit.CheckpointType, Seq: head.Seq, Hash: head.Hash, Recorded: rec, SignedAt: time.Now().UTC().Truncate(time.Microsecond)}
	payload, err := json.Marshal(cp)
	if err != nil {
		return cp, false, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	if cp.JWS, err = signer.Sign(payload); err != nil {
		return cp, false, pgo.Wrap(pgo.EINTERNAL, err, "signing the checkpoint failed")
	}
	tag, err := db.Pool.Exec(ctx, `insert into audit_checkpoint (seq, jws) values ($1, $2) on conflict (seq) do nothing`, cp.Seq, cp.JWS)
	if err != nil {
		return cp, false, store.Error(err)
	}
	if tag.RowsAffected() == 0 {
		err = db.Pool.QueryRow(ctx, `select jws from audit_checkpoint where seq = $1`, cp.Seq).Scan(&cp.JWS)
		if err == nil {
			err = json.Unmarshal([]byte(payloadOf(cp.JWS)), &cp)
		}
		return cp, false, store.Error(err)
	}
	return cp, true, nil
}

// payloadOf returns the decoded payload of a compact JWS without checking it (only
// for a row this process just found by key; Verify checks signatures).
func payloadOf(jws string) string {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64URL(parts[1])
	return string(b)
}

// EnsurePartitions creates the month partitions from this month to months ahead
// (the worker calls it daily, so Append normally finds its partition). Each month
// is its own short transaction with a lock timeout: creating a partition needs an
// exclusive lock on audit_log, and queueing for it behind a long auditor query would
// stall every append. A timeout is an error; the next run tries again.
func EnsurePartitions(ctx context.Context, db *store.DB, months int) (created []string, err error) {
	now := time.Now().UTC()
	for i := 0; i <= months; i++ {
		m := time.Date(now.Year(), now.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		err := db.WithTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `set local lock_timeout = '5s'`); err != nil {
				return err
			}
			var made bool
			if err := tx.QueryRow(ctx, `select audit_ensure_partition($1)`, m).Scan(&made); err != nil {
				return err
			}
			if made {
				created = append(created, partitionName(m))
			}
			return nil
		})
		if err != nil {
			return created, err
		}
	}
	return created, nil
}

func partitionName(t time.Time) string { return "audit_log_p" + t.UTC().Format("200601") }

// PruneResult says what Prune dropped.
type PruneResult struct {
	Dropped     []string // partition names, oldest first
	Records     int64    // records in them
	KeptFromSeq int64    // the first record that remains
}

// Prune drops the month partitions that lie entirely before now - retention, and in
// the same transaction appends an audit_pruned record naming them, how many records
// they held and where the chain now starts (audit.StartAnchor uses that to tell a
// retention cut from a deletion). It refuses a retention under five years (NFR032).
// It holds the chain head lock, so no linker runs meanwhile, and links what is
// committed first, so that the cut is a point in the chain. Records are linked in
// commit order, so a kept record may have been linked after a dropped one (a
// transaction that committed late at a month's end): the chain then starts after
// the last dropped position, and such a kept record has only its own MAC checked.
// With nothing to drop it writes nothing.
func Prune(ctx context.Context, db *store.DB, retention time.Duration, now time.Time, actor string) (PruneResult, error) {
	var res PruneResult
	if retention < MinRetention {
		return res, pgo.Errorf(pgo.EINVALID, "audit retention %s is below the legal minimum of 5 years", retention)
	}
	cutoff := now.Add(-retention)
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		res = PruneResult{}
		// Dropping a partition waits for every reader of audit_log while this holds
		// the head lock (and so stalls appends): give up rather than wait long.
		if _, err := tx.Exec(ctx, `set local lock_timeout = '10s'`); err != nil {
			return err
		}
		head, _, err := lockHead(ctx, tx, false)
		if err != nil {
			return err
		}
		old, err := partitionsBefore(ctx, tx, cutoff)
		if err != nil || len(old) == 0 {
			return err
		}
		if _, err := linkPending(ctx, tx, head); err != nil {
			return err
		}
		var last cut
		for _, p := range old {
			if err := dropPartition(ctx, tx, p, &res, &last); err != nil {
				return err
			}
		}
		res.Dropped = old
		if err := appendPruned(ctx, tx, &res, last, retention, actor); err != nil {
			return err
		}
		// Link the prune record in this transaction too: verification starts
		// from it and takes it only once it is linked (after the cut), so left
		// to the linker it would read as a break for a moment.
		if head, _, err = lockHead(ctx, tx, false); err != nil {
			return err
		}
		_, err = linkPending(ctx, tx, head)
		return err
	})
	return res, store.Error(err)
}

// partitionsBefore lists the partitions whose month ends at or before cutoff.
func partitionsBefore(ctx context.Context, tx pgx.Tx, cutoff time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
		where i.inhparent = 'audit_log'::regclass`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var old []string
	for _, n := range names {
		start, err := time.Parse("200601", strings.TrimPrefix(n, "audit_log_p"))
		if err != nil || !strings.HasPrefix(n, "audit_log_p") {
			return nil, fmt.Errorf("audit_log partition %q does not follow the audit_log_pYYYYMM naming", n)
		}
		if !start.AddDate(0, 1, 0).After(cutoff) {
			old = append(old, n)
		}
	}
	sort.Strings(old)
	return old, nil
}

// cut is the last chain position among the dropped records and its hash.
type cut struct {
	pos  int64
	hash []byte
}

// dropPartition counts the records of partition p, notes the last chain position
// among them in last when that is the latest so far, and drops p with its month of
// audit_link (and any work-list entries of its records).
func dropPartition(ctx context.Context, tx pgx.Tx, p string, res *PruneResult, last *cut) error {
	id := pgx.Identifier{p}.Sanitize()
	linkID := pgx.Identifier{"audit_link_p" + strings.TrimPrefix(p, "audit_log_p")}.Sanitize()
	var n int64
	if err := tx.QueryRow(ctx, "select count(*) from "+id).Scan(&n); err != nil {
		return err
	}
	var c cut
	err := tx.QueryRow(ctx, `select link, hash from `+linkID+` order by link desc limit 1`).Scan(&c.pos, &c.hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if c.pos > last.pos {
		*last = c
	}
	if _, err := tx.Exec(ctx, `delete from audit_pending p using `+id+` a where p.seq = a.seq and p.recorded = a.recorded`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "drop table "+id+", "+linkID); err != nil {
		return err
	}
	res.Records += n
	return nil
}

func appendPruned(ctx context.Context, tx pgx.Tx, res *PruneResult, last cut, retention time.Duration, actor string) error {
	keptSeq, keptPrev := last.pos+1, last.hash
	var err error
	if last.pos == 0 { // nothing linked was dropped: the chain starts where it did
		err = tx.QueryRow(ctx, `select link, prev_hash from audit_link order by link limit 1`).Scan(&keptSeq, &keptPrev)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `select seq + 1, hash from audit_chain_head`).Scan(&keptSeq, &keptPrev)
		}
	}
	if err != nil {
		return err
	}
	prev, err := audit.HashFromBytes(keptPrev)
	if err != nil {
		return err
	}
	res.KeptFromSeq = keptSeq
	_, err = appendAt(ctx, tx, audit.Event{
		Action: audit.ActAuditPruned, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: actor,
		ObjectType: "audit_log",
		Details: map[string]string{
			"dropped":                    strings.Join(res.Dropped, " "),
			"dropped_records":            strconv.FormatInt(res.Records, 10),
			"retention":                  retention.String(),
			audit.DetailKeptFromSeq:      strconv.FormatInt(keptSeq, 10),
			audit.DetailKeptFromPrevHash: prev.String(),
		},
	}, time.Time{})
	return err
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// PartitionsAhead is how many months ahead Maintain keeps partitions ready.
const PartitionsAhead = 3

// Maintenance is the worker's periodic audit job (every
// PGO_AUDIT_CHECKPOINT_INTERVAL, and once at shutdown): Run creates the month
// partitions for the coming months and signs a checkpoint of the chain head when
// the head moved since the last one. An empty log is not an error. Retention
// (Prune) is left to the operator's `pgo audit prune`, so that data is never
// dropped by a background job nobody watches.
type Maintenance struct {
	DB     *store.DB
	Signer audit.Signer
	// Sink (optional) receives each new checkpoint outside the database. A
	// failing sink fails the run; the same checkpoint is written next round.
	Sink audit.CheckpointSink

	lastSunk atomic.Int64 // seq of the newest checkpoint written to Sink
}

// Run does one round.
func (m *Maintenance) Run(ctx context.Context) error {
	if _, err := EnsurePartitions(ctx, m.DB, PartitionsAhead); err != nil {
		return err
	}
	cp, _, err := Checkpoint(ctx, m.DB, m.Signer)
	if pgo.ErrorCode(err) == pgo.ECONFLICT {
		return nil
	}
	if err != nil || m.Sink == nil || cp.Seq <= m.lastSunk.Load() {
		return err
	}
	if err := m.Sink.WriteCheckpoint(cp); err != nil {
		return err
	}
	m.lastSunk.Store(cp.Seq)
	return nil
}
