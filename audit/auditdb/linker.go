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
func Link(ctx context.Context, db *store.DB) (n int, busy bool, err error) {
	err = db.WithTx(ctx, func(tx pgx.Tx) error {
		// The link commit need not wait for its WAL flush: lost in a crash, the
		// records are simply unlinked again and the next round links them (the
		// head moves back with them: one transaction). A checkpoint of the head
		// is a synchronous commit later in the WAL, which flushes this one first.
		if _, err := tx.Exec(ctx, `set local synchronous_commit = off`); err != nil {
			return err
		}
		head, ok, err := lockHead(ctx, tx, true)
		if err != nil || !ok {
			busy = !ok
			return err
		}
		n, err = linkPending(ctx, tx, head)
		return err
	})
	return n, busy, store.Error(err)
}

// lockHead locks the chain head row and returns it; with skip, ok is false when
// another transaction holds it.
func lockHead(ctx context.Context, tx pgx.Tx, skip bool) (head audit.Anchor, ok bool, err error) {
	q := `select seq, hash from audit_chain_head for update`
	if skip {
		q += ` skip locked`
	}
	var h []byte
	err = tx.QueryRow(ctx, q).Scan(&head.Seq, &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return head, false, nil
	}
	if err != nil {
		return head, false, store.Error(err)
	}
	head.Hash, err = audit.HashFromBytes(h)
	return head, err == nil, err
}

// linkPending links every unlinked record visible to tx after head; tx holds the
// head lock. The triggers check each batch against the head and move the head.
func linkPending(ctx context.Context, tx pgx.Tx, head audit.Anchor) (int, error) {
	keys := keysOf(chainKeys.Load())
	total := 0
	for {
		recs, err := unlinked(ctx, tx)
		if err != nil || len(recs) == 0 {
			return total, err
		}
		var l links
		for i := range recs {
			r := &recs[i]
			if err := r.SealLink(keys, head.Seq+1, head.Hash); err != nil {
				return total, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("linking audit record %s: %w", r.ID, err), "")
			}
			head = audit.Anchor{Seq: r.Link, Hash: r.Hash}
			l.add(r)
		}
		tag, err := tx.Exec(ctx, linkSQL, l.seq, l.recorded, l.link, l.prev, l.hash)
		if err != nil {
			return total, store.Error(err)
		}
		if tag.RowsAffected() != int64(len(recs)) {
			return total, pgo.Wrap(pgo.ECONFLICT, fmt.Errorf("audit records were linked under the linker"), "")
		}
		total += len(recs)
		if len(recs) < linkBatch {
			return total, nil
		}
	}
}

// unlinked reads the next batch to link: only what the link hash covers besides
// the MAC (which covers the content), not the whole row.
func unlinked(ctx context.Context, tx pgx.Tx) ([]audit.Record, error) {
	rows, err := tx.Query(ctx, `select id, seq, recorded, mac_key, mac from audit_log where hash is null order by seq limit `+fmt.Sprint(linkBatch))
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var id [16]byte
		var macKey int64
		var mac []byte
		if err := rows.Scan(&id, &r.Seq, &r.Recorded, &macKey, &mac); err != nil {
			return nil, store.Error(err)
		}
		r.ID, r.MACKey = formatUUID(id), uint32(macKey)
		if r.MAC, err = audit.HashFromBytes(mac); err != nil {
			return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("audit record %s: mac: %w", r.ID, err), "")
		}
		out = append(out, r)
	}
	return out, store.Error(rows.Err())
}

// linkSQL links a batch in one statement; the triggers check it (migration 014).
const linkSQL = `update audit_log a set link = v.link, prev_hash = v.prev, hash = v.hash
	from unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bytea[], $5::bytea[]) as v(seq, recorded, link, prev, hash)
	where a.seq = v.seq and a.recorded = v.recorded and a.hash is null`

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
