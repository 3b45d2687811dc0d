package auditdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// linkBatch is how many records one linking query reads and updates.
const linkBatch = 500

// Link chains the committed records that are not linked yet, lowest seq first,
// in a transaction of its own, and returns how many it linked. The lock it takes
// is the chain head row, which only linkers (and Prune) lock now that Append does
// not: with several processes only one links at a time, and busy reports that
// another one held it (then Link did nothing; that one, or the next round, links
// what is left). Records committed while it runs are linked by the next round.
//
// A round is two round trips (issue 16; it was six): begin, the settings, the
// head lock and the first batch of the work list travel in one pgx batch, and
// the links with the commit in the other (with a round trip more per further
// batch of linkBatch records). The work list is read before Link knows whether
// it got the lock; when it did not, that read is dropped and the transaction
// ends. A statement that fails aborts the transaction on the server, which skips
// the rest of its batch, commit included; the rollback that ends it then is a
// round trip on the error path only.
func Link(ctx context.Context, db *store.DB) (n int, busy bool, err error) {
	err = db.InBatches(ctx, func(t *store.BatchTx) error {
		b := &pgx.Batch{}
		// The link commit need not wait for its WAL flush: lost in a crash, the
		// records are simply unlinked again and the next round links them (the
		// head moves back with them: one transaction). A checkpoint of the head
		// is a synchronous commit later in the WAL, which flushes this one first.
		// And it is a few index look-ups: JIT compiling them (the planner's
		// estimate for a busy work list can exceed jit_above_cost) costs more.
		b.Queue(`select set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)`)
		b.Queue(lockHeadSQL, true)
		b.Queue(unlinkedSQL)
		var head audit.Anchor
		var ok bool
		var recs []audit.Record
		err := t.Send(ctx, b, func(res pgx.BatchResults) error {
			if _, err := res.Exec(); err != nil {
				return err
			}
			var err error
			if head, ok, err = scanHead(res.QueryRow()); err != nil {
				return err
			}
			recs, err = scanUnlinked(res.Query())
			return err
		})
		if err != nil || !ok {
			busy = err == nil
			return err // InBatches rolls the transaction back
		}
		n, err = linkFrom(ctx, func(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error, last bool) error {
			if last {
				return t.Commit(ctx, b, read)
			}
			return t.Send(ctx, b, read)
		}, head, recs)
		return err
	})
	if err != nil {
		return 0, false, store.Error(err)
	}
	return n, busy, nil
}

// sender sends a batch of the linking transaction and reads its results;
// last says it is the transaction's last batch (Link commits with it). b is nil
// when there is nothing left to send.
type sender func(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error, last bool) error

// linkFrom links recs, the first batch of the work list after head, and the
// rest of the list, sending with send; the transaction holds the head lock. The
// trigger checks each batch against the head and moves the head.
func linkFrom(ctx context.Context, send sender, head audit.Anchor, recs []audit.Record) (int, error) {
	keys := keysOf(chainKeys.Load())
	n := 0
	for {
		if len(recs) == 0 {
			return n, send(ctx, nil, nil, true)
		}
		var l links
		for i := range recs {
			r := &recs[i]
			if err := r.SealLink(keys, head.Seq+1, head.Hash); err != nil {
				return 0, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("linking audit record %s: %w", r.ID, err), "")
			}
			head = audit.Anchor{Seq: r.Link, Hash: r.Hash}
			l.add(r)
		}
		n += len(recs)
		b := &pgx.Batch{}
		b.Queue(linkSQL, l.link, l.seq, l.recorded, l.prev, l.hash)
		more := len(recs) == linkBatch
		if more {
			b.Queue(unlinkedSQL)
		}
		recs = nil
		err := send(ctx, b, func(res pgx.BatchResults) error {
			if _, err := res.Exec(); err != nil || !more {
				return err
			}
			var err error
			recs, err = scanUnlinked(res.Query())
			return err
		}, !more)
		if err != nil || !more {
			return n, err
		}
	}
}

// linkPending links every record on the work list visible to tx after head; tx
// holds the head lock and stays open.
func linkPending(ctx context.Context, tx pgx.Tx, head audit.Anchor) (int, error) {
	recs, err := scanUnlinked(tx.Query(ctx, unlinkedSQL))
	if err != nil {
		return 0, err
	}
	return linkFrom(ctx, func(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error, _ bool) error {
		if b == nil {
			return nil
		}
		res := tx.SendBatch(ctx, b)
		defer res.Close()
		if err := read(res); err != nil {
			return err
		}
		return res.Close()
	}, head, recs)
}

// lockHeadSQL locks the chain head row for the transaction and returns it; its
// parameter is skip: no row when another transaction holds the lock. It locks
// with the owner's rights (audit_lock_head, migration 030): the application
// role may read the head but not update it, and FOR UPDATE needs that right.
const lockHeadSQL = `select seq, hash from audit_lock_head($1)`

// lockHead locks the chain head row and returns it; with skip, ok is false when
// another transaction holds it.
func lockHead(ctx context.Context, tx pgx.Tx, skip bool) (head audit.Anchor, ok bool, err error) {
	head, ok, err = scanHead(tx.QueryRow(ctx, lockHeadSQL, skip))
	return head, ok, store.Error(err)
}

// scanHead reads the chain head from lockHeadSQL's row; ok is false when there
// was none (skipped: locked by another transaction).
func scanHead(row pgx.Row) (head audit.Anchor, ok bool, err error) {
	var h []byte
	err = row.Scan(&head.Seq, &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return head, false, nil
	}
	if err != nil {
		return head, false, err
	}
	head.Hash, err = audit.HashFromBytes(h)
	return head, err == nil, err
}

// unlinkedSQL reads the next batch to link from the work list audit_pending: only
// what the link hash covers besides the MAC (which covers the content), not the
// whole row. An entry whose record is linked already (put back by hand: the
// trigger would refuse its link, and the linker would stop there) is passed over,
// and so is an entry without a record (written by hand; verify reports it,
// orphanPending): a batch of them would otherwise fill the limit with nothing to
// link, and the linker would stop for good.
// Each record is read by its key (a LATERAL subquery that OFFSET 0 keeps from
// being flattened), and the linked-already check is a per-row subplan: never a
// join over the whole log, whatever the planner's estimate for the small, busy
// work list.
var unlinkedSQL = `select a.id, a.seq, a.recorded, a.mac_key, a.mac
	from (select seq, recorded from audit_pending p
	      where (select count(*) from audit_link l where l.seq = p.seq and l.recorded = p.recorded) = 0
	        and (select count(*) from audit_log a where a.seq = p.seq and a.recorded = p.recorded) > 0
	      order by seq limit ` + fmt.Sprint(linkBatch) + `) p
	cross join lateral (select id, seq, recorded, mac_key, mac from audit_log a
	      where a.seq = p.seq and a.recorded = p.recorded offset 0) a
	order by p.seq`

// scanUnlinked reads unlinkedSQL's rows (as Query returns them).
func scanUnlinked(rows pgx.Rows, err error) ([]audit.Record, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var id [16]byte
		var macKey int64
		var mac []byte
		if err := rows.Scan(&id, &r.Seq, &r.Recorded, &macKey, &mac); err != nil {
			return nil, err
		}
		r.ID, r.MACKey = formatUUID(id), uint32(macKey)
		if r.MAC, err = audit.HashFromBytes(mac); err != nil {
			return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("audit record %s: mac: %w", r.ID, err), "")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// linkSQL links a batch in one insert into audit_link; its trigger
// (audit_link_follows, migration 016) checks that the batch follows the head,
// takes the records off audit_pending and moves the head. audit_log is not
// touched: a record is written once.
const linkSQL = `insert into audit_link (link, seq, recorded, prev_hash, hash)
	select * from unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bytea[], $5::bytea[])`

// links are the columns of linkSQL.
type links struct {
	seq, link  []int64
	recorded   []time.Time
	prev, hash [][]byte
}

func (l *links) add(r *audit.Record) {
	l.seq, l.recorded, l.link = append(l.seq, r.Seq), append(l.recorded, r.Recorded), append(l.link, r.Link)
	l.prev, l.hash = append(l.prev, r.PrevHash[:]), append(l.hash, r.Hash[:])
}

// nudges wakes this process's Linker when Append wrote a record. Append cannot
// know when its caller commits; the Linker waits linkSettle before it looks.
var nudges = make(chan struct{}, 1)

func nudge() {
	select {
	case nudges <- struct{}{}:
	default:
	}
}

// linkSettle is how long the Linker waits after a nudge (for the appending
// transaction to commit, and to gather the appends of that while into one round:
// a round per append would add a commit per append); linkRetry how long when
// another linker was busy.
const (
	linkSettle = 50 * time.Millisecond
	linkRetry  = 50 * time.Millisecond
)

// Linker links committed records in the background (pgo serve and pgo worker
// each run one; the head lock makes them take turns). It is woken by this
// process's appends, and every Interval (PGO_AUDIT_LINK_INTERVAL) for records
// that other processes wrote or that committed after the round their nudge
// started. Without a running linker, records stay unlinked (still sealed by their
// own MAC) and `pgo audit verify` reports them once older than UnlinkedBound.
//
// It does not use LISTEN/NOTIFY: a NOTIFY inside the appending transaction takes
// a database-wide lock from its commit until the commit is flushed, which would
// serialize the auditing transactions again (BenchmarkAppend's chain+notify case).
type Linker struct {
	DB       *store.DB
	Interval time.Duration
	Log      *slog.Logger
}

// Run links until ctx ends, then does one last round (records committed just
// before shutdown) with a short deadline of its own.
func (l *Linker) Run(ctx context.Context) {
	tick := time.NewTicker(l.Interval)
	defer tick.Stop()
	soon := time.After(0)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			l.round(fctx)
			return
		case <-nudges:
			if soon == nil {
				soon = time.After(linkSettle)
			}
			continue
		case <-tick.C:
		case <-soon:
			soon = nil
		}
		if busy := l.round(ctx); busy && soon == nil {
			soon = time.After(linkRetry)
		}
	}
}

func (l *Linker) round(ctx context.Context) (busy bool) {
	_, busy, err := Link(ctx, l.DB)
	if err != nil && ctx.Err() == nil && l.Log != nil {
		l.Log.Warn("audit linker: round failed; the next one retries", "error", err.Error())
	}
	return busy
}
