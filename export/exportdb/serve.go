package exportdb

import (
	"context"
	"fmt"
	"io"
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

// SealedReader reads a job's sealed document in SliceSize slices, one query each
// (substring on an EXTERNAL bytea fetches only the TOAST chunks of the slice,
// migration 009), so no connection is held between reads and a slow peer holds no
// database resources. A rewrap between two slices is harmless: it keeps the data key
// and the segments, only the key-wrapping header changes (same length).
func (s *Store) SealedReader(ctx context.Context, id string) (io.ReadCloser, error) {
	var size int64
	err := s.db.Pool.QueryRow(ctx, `select octet_length(sealed) from export_document where job_id = $1`, id).Scan(&size)
	if err != nil {
		return nil, notFound(err, "export document")
	}
	return &sliceReader{ctx: ctx, s: s, id: id, size: size}, nil
}

type sliceReader struct {
	ctx  context.Context
	s    *Store
	id   string
	off  int64
	size int64
	buf  []byte // unread part of own
	own  []byte // the slice buffer, reused
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		n := min(int64(SliceSize), r.size-r.off)
		if err := r.slice(n); err != nil {
			return 0, err
		}
		r.off += n
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// slice reads the next n sealed bytes into the reader's own buffer: the row's bytes
// are copied out of pgx's read buffer (DriverBytes, no allocation per slice), so a
// download allocates one slice buffer, not one per MiB.
func (r *sliceReader) slice(n int64) error {
	rows, err := r.s.db.Pool.Query(r.ctx, `select substring(sealed from $2 for $3) from export_document where job_id = $1`,
		r.id, r.off+1, n)
	if err != nil {
		return store.Error(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.Error(err)
		}
		return notFound(pgx.ErrNoRows, "export document")
	}
	var b pgtype.DriverBytes
	if err := rows.Scan(&b); err != nil {
		return store.Error(err)
	}
	if int64(len(b)) != n {
		return fmt.Errorf("export document %s: slice at %d has %d bytes, want %d", r.id, r.off, len(b), n)
	}
	if cap(r.own) < len(b) {
		r.own = make([]byte, SliceSize)
	}
	r.buf = append(r.own[:0], b...)
	return nil
}

func (r *sliceReader) Close() error { r.buf, r.own = nil, nil; return nil }

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
