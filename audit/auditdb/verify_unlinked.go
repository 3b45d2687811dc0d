package auditdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// checkUnlinked checks every record of the period that is not linked yet against
// its own MAC, counts them and finds the oldest; past UnlinkedBound that is the
// returned finding unless a record was changed. The records not linked yet are
// those on the linker's work list (audit_pending). A record on neither the chain
// nor the list would never be linked: the counts of the period tell whether there
// is one, and only then is the whole period searched for it.
func checkUnlinked(ctx context.Context, tx pgx.Tx, w *audit.Walker, opts audit.VerifyOptions, res *audit.VerifyResult) (*audit.Break, error) {
	cond, args := where(audit.Filter{From: opts.From, To: opts.To})
	var first, stale *audit.Break
	now := time.Now()
	err := walkUnlinked(ctx, tx, pendingSQL(cond, len(args)), args, func(r *audit.Record) {
		if b := w.AddUnlinked(r); b != nil && first == nil {
			first = b
		}
		if age := now.Sub(r.Recorded); age > res.OldestUnlinked {
			res.OldestUnlinked = age
			if age > UnlinkedBound && stale == nil {
				stale = &audit.Break{Seq: r.Seq, ID: r.ID, Problem: fmt.Sprintf(
					"not linked into the chain %s after it was recorded (bound %s): no audit linker is running (pgo serve, pgo worker) or it fails",
					age.Truncate(time.Second), UnlinkedBound)}
			}
		}
	})
	res.Unlinked = w.Unlinked
	if err != nil {
		return nil, err
	}
	// Only entries with their record count as waiting: the application role may
	// insert into audit_pending, and an entry for a seq without a record would
	// otherwise cancel out a forged record kept off the list, and the search for
	// it (and the check of its MAC) would be skipped. Such entries are a finding
	// of their own (orphanPending).
	var off int64
	err = tx.QueryRow(ctx, `select (select count(*) from audit_log where `+cond+`)
		- (select count(*) from audit_link where `+cond+`)
		- (select count(*) from audit_pending p where `+cond+` and not exists (select from audit_link l where l.seq = p.seq)
			and exists (select from audit_log a where a.seq = p.seq and a.recorded = p.recorded))`,
		args...).Scan(&off)
	if err != nil {
		return nil, store.Error(err)
	}
	if off != 0 { // a record off the list, or links without (or twice for) a record
		var lost *audit.Break
		err = walkUnlinked(ctx, tx, lostSQL(cond, len(args)), args, func(r *audit.Record) {
			if lost != nil {
				return
			}
			lost = &audit.Break{Seq: r.Seq, ID: r.ID, Problem: "is neither linked into the chain nor waiting to be linked (audit_pending): it was taken off the linker's work list"}
			// Its own MAC too: a record written without the chain key, kept off
			// the list so that no one checks it, is a forgery, not a lost record.
			if b := w.AddUnlinked(r); b != nil {
				lost.Problem = "is neither linked into the chain nor waiting to be linked (audit_pending), and " + b.Problem
			}
		})
		if first == nil {
			first = lost
		}
	}
	if err != nil {
		return nil, err
	}
	if first == nil {
		if first, err = orphanPending(ctx, tx, cond, args); err != nil {
			return nil, err
		}
	}
	if first == nil {
		first = stale
	}
	return first, nil
}

// pendingSQL reads the records of the period on the work list, lostSQL those
// that are neither linked nor on it; both in keyset batches on seq (the last
// parameter, after the n of the period's condition).
func pendingSQL(cond string, n int) string {
	return fmt.Sprintf(`select %s from audit_record where seq = any(array(select seq from audit_pending))
		and hash is null and %s and seq > $%d order by seq limit %d`, columns, cond, n+1, scanBatch)
}

func lostSQL(cond string, n int) string {
	return fmt.Sprintf(`select %s from audit_record r where hash is null and %s
		and not exists (select from audit_pending p where p.seq = r.seq) and seq > $%d order by seq limit %d`, columns, cond, n+1, scanBatch)
}

// walkUnlinked hands the records sql reads to fn, batch by batch.
func walkUnlinked(ctx context.Context, tx pgx.Tx, sql string, args []any, fn func(*audit.Record)) error {
	args = append(slices.Clone(args), int64(0))
	for {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return store.Error(err)
		}
		recs, err := collect(rows)
		if err != nil {
			return err
		}
		for i := range recs {
			fn(&recs[i])
			args[len(args)-1] = recs[i].Seq
		}
		if len(recs) < scanBatch {
			return nil
		}
	}
}

// orphanPending finds the first entry of the period on the linker's work list
// (audit_pending) that has no record. Append writes a record and its entry in
// one statement, and Prune drops a month's entries with its records, so such
// an entry was written by hand: the application role may insert there, and an
// entry without a record used to hide a forged record kept off the list from
// checkUnlinked's counts. The linker passes over it (unlinkedSQL).
func orphanPending(ctx context.Context, tx pgx.Tx, cond string, args []any) (*audit.Break, error) {
	var seq int64
	err := tx.QueryRow(ctx, `select seq from audit_pending p where `+cond+`
		and not exists (select from audit_log a where a.seq = p.seq and a.recorded = p.recorded)
		order by seq limit 1`, args...).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, store.Error(err)
	}
	return &audit.Break{Seq: seq, Problem: "is on the linker's work list (audit_pending) without a record: the entry was written by hand, " +
		"not by an append (which writes a record and its entry together); look for records the counts no longer show"}, nil
}
