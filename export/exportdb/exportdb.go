// Package exportdb stores export jobs (package export) in PostgreSQL: the job row
// (state, progress, sizes, hashes; no health data) and the sealed document, each
// state change in one transaction with its audit record (auditdb.Append) and, for a
// new job, the outbox row of its render task (store.Enqueue).
package exportdb

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Channel is the NOTIFY channel of export jobs that became final (ready or
// failed); the payload is the job id. Finish and Fail send it in their
// transaction, so a held Binary read on any server process (export.Serving with a
// store.Hub on this channel) wakes when the job's commit is visible, instead of
// reading the job row again and again. One notification per render: NOTIFY's
// commit-time lock is no cost at that rate.
const Channel = "pgo_export"

// Store implements export.JobStore.
type Store struct {
	db   *store.DB
	task func(jobID string) store.Task
}

var _ export.JobStore = (*Store)(nil)

// New returns the job store on db; task builds the outbox task that renders a job
// (worker.NewRenderTask: the task type lives with the worker, which imports this
// package's domain, so cmd hands it in).
func New(db *store.DB, task func(jobID string) store.Task) *Store {
	return &Store{db: db, task: task}
}

// Create writes the job, its audit record and the render task's outbox row in one
// transaction.
func (s *Store) Create(ctx context.Context, job export.Job, ev audit.Event) error {
	return s.db.WithTx(ctx, func(tx pgx.Tx) error { return s.CreateTx(ctx, tx, job, ev) })
}

// CreateTx is Create inside the caller's transaction, in one round trip.
func (s *Store) CreateTx(ctx context.Context, tx pgx.Tx, job export.Job, ev audit.Event) error {
	b := &pgx.Batch{}
	read, err := s.QueueCreate(b, tx.Conn(), job, ev)
	if err != nil {
		return err
	}
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if err := read(res); err != nil {
		return store.Error(err)
	}
	return store.Error(res.Close())
}

// QueueCreate queues Create's statements (the job, the render task's outbox
// row, the audit record) into b, which the caller sends on conn inside its
// transaction: for the consent grant, which must commit together with its
// export (one job per grant). The returned function reads their results.
func (s *Store) QueueCreate(b *pgx.Batch, conn *pgx.Conn, job export.Job, ev audit.Event) (func(pgx.BatchResults) error, error) {
	b.Queue(`insert into export_job (id, user_id, categories, conformance, status, request_id, correlation_id, created_at)
		values ($1, $2, $3, $4, 'queued', $5, $6, $7)`,
		job.ID, job.UserID, categoryNames(job.Categories), levelName(job.Conformance), job.RequestID, job.CorrelationID, job.Created)
	store.QueueEnqueue(b, s.task(job.ID))
	q, err := auditdb.Queue(b, conn, ev)
	if err != nil {
		return nil, err
	}
	return func(res pgx.BatchResults) error {
		for range 2 {
			if _, err := res.Exec(); err != nil {
				return err
			}
		}
		return q.Read(res)
	}, nil
}

const jobColumns = `id, user_id, categories, conformance, status, items_done, items_total, attempts,
	coalesce(pages, 0), coalesce(size, 0), sha256, sha1, coalesce(failure, ''), request_id, correlation_id,
	created_at, started_at, finished_at, coalesce(proof_items, 0), coalesce(proof_strings, 0), coalesce(proof_missing, 0),
	grant_ended_at is not null`

func scanJob(row pgx.Row) (export.Job, error) {
	var j export.Job
	var cats []string
	var level, status string
	var sha256, sha1 []byte
	var started, finished *time.Time
	err := row.Scan(&j.ID, &j.UserID, &cats, &level, &status, &j.Done, &j.Total, &j.Attempts,
		&j.Pages, &j.Size, &sha256, &sha1, &j.Failure, &j.RequestID, &j.CorrelationID,
		&j.Created, &started, &finished, &j.Proof.Items, &j.Proof.Strings, &j.Proof.Missing, &j.ConsentEnded)
	if err != nil {
		return export.Job{}, err
	}
	for _, c := range cats {
		j.Categories = append(j.Categories, dossier.Category(c))
	}
	j.Status = export.Status(status)
	if level == "1b" {
		j.Conformance = export.PDFA1B
	}
	copy(j.SHA256[:], sha256)
	copy(j.SHA1[:], sha1)
	if started != nil {
		j.Started = *started
	}
	if finished != nil {
		j.Finished = *finished
	}
	return j, nil
}

// Job returns one job.
func (s *Store) Job(ctx context.Context, id string) (export.Job, error) {
	j, err := scanJob(s.db.Pool.QueryRow(ctx, `select `+jobColumns+` from export_job where id = $1`, id))
	return j, notFound(err, "export job")
}

// Start moves a queued or rendering job to rendering and counts the attempt; a
// final job comes back as it is. The update is a statement of its own (one
// round trip); only a final job costs a second, to read it.
func (s *Store) Start(ctx context.Context, id string) (export.Job, error) {
	j, err := scanJob(s.db.Pool.QueryRow(ctx, `update export_job
		set status = 'rendering', attempts = attempts + 1, started_at = now(), updated_at = now()
		where id = $1 and status in ('queued', 'rendering') returning `+jobColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		j, err = scanJob(s.db.Pool.QueryRow(ctx, `select `+jobColumns+` from export_job where id = $1`, id))
	}
	return j, notFound(err, "export job")
}

// Progress records items done of total while the job renders.
func (s *Store) Progress(ctx context.Context, id string, done, total int) error {
	_, err := s.db.Pool.Exec(ctx, `update export_job set items_done = $2, items_total = $3, updated_at = now()
		where id = $1 and status = 'rendering'`, id, done, total)
	return store.Error(err)
}

// Finish stores the document and moves the job to ready with the facts of res (size,
// hashes, completeness proof) and its audit record, in one transaction and one
// round trip, unless another rendering finished (or failed) it first.
func (s *Store) Finish(ctx context.Context, id string, res export.Result, sealed []byte, ev audit.Event) (bool, error) {
	return s.final(ctx, id, ev, `update export_job set status = 'ready', pages = $2, size = $3, sha256 = $4, sha1 = $5,
			proof_items = $6, proof_strings = $7, proof_missing = $8,
			items_done = greatest(items_total, items_done), failure = null, finished_at = now(), updated_at = now()
			where id = $1 and status in ('queued', 'rendering')`, []any{id, res.Pages, res.Size, res.SHA256[:], res.SHA1[:],
		res.Proof.Items, res.Proof.Strings, res.Proof.Missing}, sealed)
}

// Fail moves a job that is not final to failed, with its audit record.
func (s *Store) Fail(ctx context.Context, id string, reason string, ev audit.Event) (bool, error) {
	return s.final(ctx, id, ev, `update export_job set status = 'failed', failure = $2, finished_at = now(), updated_at = now()
			where id = $1 and status in ('queued', 'rendering')`, []any{id, reason}, nil)
}

// final makes the job final with the compare-and-set update (sql, args), stores
// the sealed document (when not nil), appends the audit record and notifies
// Channel, in one transaction and one round trip (store.OneTrip). When the
// update finds the job final already, nothing is written and it returns false.
func (s *Store) final(ctx context.Context, id string, ev audit.Event, sql string, args []any, sealed []byte) (bool, error) {
	err := s.db.OneTrip(ctx, func(b *pgx.Batch, conn *pgx.Conn) (func(pgx.BatchResults) error, error) {
		b.Queue(store.ExpectChange(sql), args...)
		n := 1
		if sealed != nil {
			b.Queue(`insert into export_document (job_id, sealed) values ($1, $2)`, id, sealed)
			n++
		}
		q, err := auditdb.Queue(b, conn, ev)
		if err != nil {
			return nil, err
		}
		b.Queue(`select pg_notify($1, $2)`, Channel, id)
		return func(res pgx.BatchResults) error {
			for range n {
				if _, err := res.Exec(); err != nil {
					return err
				}
			}
			if err := q.Read(res); err != nil {
				return err
			}
			_, err := res.Exec()
			return err
		}, nil
	})
	if store.NoChange(err) {
		return false, nil
	}
	return err == nil, store.Error(err)
}

// Document returns a ready job with its sealed document; ECONFLICT naming the
// status when it is not ready yet (or failed).
func (s *Store) Document(ctx context.Context, id string) (export.Job, []byte, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return j, nil, err
	}
	if j.Status != export.StatusReady {
		return j, nil, pgo.Errorf(pgo.ECONFLICT, "the export is %s, not ready", j.Status)
	}
	var sealed []byte
	err = s.db.Pool.QueryRow(ctx, `select sealed from export_document where job_id = $1`, id).Scan(&sealed)
	return j, sealed, notFound(err, "export document")
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return pgo.Wrap(pgo.ENOTFOUND, err, what+" not found")
	}
	return store.Error(err)
}

func categoryNames(cs []dossier.Category) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func levelName(l export.Conformance) string {
	if l == export.PDFA1B {
		return "1b"
	}
	return "2b"
}

// ReplaceDocument puts another sealed document (and its facts) under a ready job,
// for `pgo bench download`: a document of any size served through the same
// storage and streaming path as a rendered one. DEVELOPMENT ONLY; it bypasses
// the render and writes no audit record.
func (s *Store) ReplaceDocument(ctx context.Context, id string, res export.Result, sealed []byte) error {
	return store.Error(s.db.WithTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `update export_job set size = $2, sha256 = $3, sha1 = $4 where id = $1 and status = 'ready'`,
			id, res.Size, res.SHA256[:], res.SHA1[:])
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return pgo.Errorf(pgo.ECONFLICT, "export %s is not ready", id)
		}
		_, err = tx.Exec(ctx, `update export_document set sealed = $2 where job_id = $1`, id, sealed)
		return err
	}))
}

// Unfinished returns up to limit jobs in queued or rendering that have not
// changed since quietSince, oldest first: the candidates of the worker's
// stalled-work sweep, which asks the queue whether a task still drives each.
func (s *Store) Unfinished(ctx context.Context, quietSince time.Time, limit int) ([]string, error) {
	rows, err := s.db.Pool.Query(ctx, `select id::text from export_job
		where status in ('queued', 'rendering') and updated_at < $1 order by created_at limit $2`, quietSince, limit)
	if err != nil {
		return nil, store.Error(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, store.Error(err)
}
