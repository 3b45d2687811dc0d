package exportdb

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
)

var _ export.DocumentStore = (*Store)(nil)

// SliceSize is how many sealed bytes one query reads for a download: one vault
// stream segment (1 MiB), so memory per download stays flat whatever the size.
const SliceSize = 1 << 20

// slicePool holds the slice buffers of downloads: two per download in flight
// (the slice being decrypted and the one being read ahead), reused across
// downloads instead of allocated per request.
var slicePool = sync.Pool{New: func() any { b := make([]byte, SliceSize); return &b }}

// SealedReader reads a job's sealed document in SliceSize slices, one query each
// (substring on an EXTERNAL bytea fetches only the TOAST chunks of the slice,
// migration 009), so no connection is held between reads and a slow peer holds no
// database resources. The first query also returns the size (one round trip
// before the first byte), and while one slice is consumed the next is read
// ahead (two slices at most per download, so memory stays flat). A rewrap
// between two slices is harmless: it keeps the data key and the segments, only
// the key-wrapping header changes (same length).
func (s *Store) SealedReader(ctx context.Context, id string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &sliceReader{ctx: ctx, cancel: cancel, s: s, id: id}
	r.bufs[0], r.bufs[1] = slicePool.Get().(*[]byte), slicePool.Get().(*[]byte)
	first, err := r.query(`select octet_length(sealed), substring(sealed from 1 for $2) from export_document where job_id = $1`,
		[]any{id, SliceSize}, *r.bufs[0], true)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.cur, r.off = first, int64(len(first))
	r.ahead()
	return r, nil
}

type sliceReader struct {
	ctx     context.Context
	cancel  context.CancelFunc
	s       *Store
	id      string
	off     int64 // sealed bytes asked for so far
	size    int64
	cur     []byte // unread part of the current slice (in bufs[which])
	bufs    [2]*[]byte
	which   int
	pending chan sliceResult // the read-ahead in flight, nil when none
}

type sliceResult struct {
	b   []byte
	err error
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.cur) == 0 {
		if r.pending == nil {
			return 0, io.EOF
		}
		res := <-r.pending
		r.pending = nil
		if res.err != nil {
			return 0, res.err
		}
		r.cur, r.which = res.b, 1-r.which
		r.ahead()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// ahead starts reading the next slice into the buffer not in use, if any is left.
func (r *sliceReader) ahead() {
	if r.off >= r.size {
		return
	}
	n := min(int64(SliceSize), r.size-r.off)
	off, buf := r.off, *r.bufs[1-r.which]
	r.off += n
	r.pending = make(chan sliceResult, 1)
	go func(ch chan<- sliceResult) {
		b, err := r.query(`select $3::int8, substring(sealed from $2::int for $3::int) from export_document where job_id = $1`,
			[]any{r.id, off + 1, n}, buf, false)
		if err == nil && int64(len(b)) != n {
			err = fmt.Errorf("export document %s: slice at %d has %d bytes, want %d", r.id, off, len(b), n)
		}
		ch <- sliceResult{b, err}
	}(r.pending)
}

// query runs a slice query (size, bytes) and copies the bytes out of pgx's read
// buffer (DriverBytes) into buf, so a download allocates no slice per MiB.
// withSize sets r.size from the first column.
func (r *sliceReader) query(sql string, args []any, buf []byte, withSize bool) ([]byte, error) {
	rows, err := r.s.db.Pool.Query(r.ctx, sql, args...)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, store.Error(err)
		}
		return nil, notFound(pgx.ErrNoRows, "export document")
	}
	var size int64
	var b pgtype.DriverBytes
	if err := rows.Scan(&size, &b); err != nil {
		return nil, store.Error(err)
	}
	if withSize {
		r.size = size
	}
	if len(b) > len(buf) {
		return nil, fmt.Errorf("export document %s: slice of %d bytes", r.id, len(b))
	}
	return buf[:copy(buf, b)], nil
}

// Close stops a read-ahead in flight and gives the slice buffers back.
func (r *sliceReader) Close() error {
	r.cancel()
	if r.pending != nil {
		<-r.pending
		r.pending = nil
	}
	for i, b := range r.bufs {
		if b != nil {
			slicePool.Put(b)
			r.bufs[i] = nil
		}
	}
	r.cur = nil
	return nil
}

// RecordServed appends an audit record (a download) and moves the job's
// serve_until to until when that is later (Served), in one transaction: one
// commit per download instead of two. A repeated download with the same token
// leaves the job row alone.
func (s *Store) RecordServed(ctx context.Context, ev audit.Event, id string, until time.Time) error {
	return store.Error(s.db.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update export_job set serve_until = $2 where id = $1 and (serve_until is null or serve_until < $2)`, id, until); err != nil {
			return err
		}
		return auditdb.Append(ctx, tx, ev)
	}))
}

// Served moves the job's serve_until to until when that is later: the export is
// deleted PGO_EXPORT_GRACE after the last token that used it expired.
func (s *Store) Served(ctx context.Context, id string, until time.Time) error {
	_, err := s.db.Pool.Exec(ctx, `update export_job set serve_until = greatest(serve_until, $2) where id = $1`, id, until)
	return store.Error(err)
}

// EndGrant records that the grant holding the job ended at `at` (revoked, withdrawn,
// expired): the document is deleted PGO_EXPORT_GRACE later. The first end counts.
// For the consent side (cmd/pgo adapts it), inside its transaction when it has one.
func (s *Store) EndGrant(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	_, err := tx.Exec(ctx, `update export_job set grant_ended_at = coalesce(grant_ended_at, $2) where id = $1`, id, at)
	return store.Error(err)
}

// Record appends one audit record in a transaction of its own (lists, downloads and
// refusals on the FHIR endpoint change no other state).
func (s *Store) Record(ctx context.Context, ev audit.Event) error {
	return store.Error(auditdb.Record(ctx, s.db, ev))
}

// DeleteExpired deletes up to limit rendered documents whose grant ended (or whose
// last token expired) before cutoff (now - PGO_EXPORT_GRACE): each deletion, the
// job's deleted_at and its export_deleted audit record commit together. The job row
// stays (no health data) for the audit trail. It returns how many it deleted.
func (s *Store) DeleteExpired(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	deleted := 0
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select `+jobColumns+` from export_job
			where deleted_at is null and status = 'ready' and coalesce(grant_ended_at, serve_until) < $1
			order by coalesce(grant_ended_at, serve_until) limit $2 for update skip locked`, cutoff, limit)
		if err != nil {
			return err
		}
		jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (export.Job, error) { return scanJob(r) })
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if _, err := tx.Exec(ctx, `delete from export_document where job_id = $1`, j.ID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update export_job set deleted_at = now(), updated_at = now() where id = $1`, j.ID); err != nil {
				return err
			}
			ev := audit.Event{
				Action: audit.ActExportDeleted, Outcome: audit.Success, PersonID: j.UserID,
				ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource,
				ObjectType: "export", ObjectID: j.ID, RequestID: j.RequestID, CorrelationID: j.CorrelationID,
				Details: map[string]string{"reason": "grace_period_over"},
			}
			if err := auditdb.Append(ctx, tx, ev); err != nil {
				return err
			}
		}
		deleted = len(jobs)
		return nil
	})
	if err != nil {
		return 0, store.Error(err)
	}
	return deleted, nil
}
