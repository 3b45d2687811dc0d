// Package transferdb stores transfers (package transfer) in PostgreSQL. Every status
// change is one compare-and-set (update ... where status = any(from), and for a
// fetch run's change: and run = the run's id, migration 027) in one
// transaction with its audit record (auditdb.Append) and, after the token, the
// outbox row of the fetch task (store.Enqueue); each change also notifies
// Channel, so progress pages on any server process see it at once (Hub).
package transferdb

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// Channel is the NOTIFY channel of transfer changes; the payload is the transfer id.
const Channel = "pgo_transfer"

// Store implements transfer.Store.
type Store struct {
	db   *store.DB
	task func(transferID string) store.Task
}

var _ transfer.Store = (*Store)(nil)

// New returns the store on db; task builds the outbox task that fetches a transfer
// (worker.NewFetchTask, handed in by cmd so this package does not import worker).
func New(db *store.DB, task func(transferID string) store.Task) *Store {
	return &Store{db: db, task: task}
}

const columns = `id, user_id, source, source_display, authorize_uri, token_uri, resource_uri, issuer, status,
	docs_done, docs_total, bytes_done, bytes_total, attempts, coalesce(failure, ''), coalesce(failure_detail, ''),
	retry, correlation_id::text, request_id, token_expires, created_at, updated_at, finished_at`

// scan reads the columns, then into extra what the query selects after them.
func scan(row pgx.Row, extra ...any) (transfer.Transfer, error) {
	var t transfer.Transfer
	var status, failure, retry string
	var expires, finished *time.Time
	err := row.Scan(append([]any{&t.ID, &t.UserID, &t.Source, &t.SourceDisplay, &t.AuthorizeURI, &t.TokenURI, &t.ResourceURI,
		&t.Issuer, &status, &t.DocsDone, &t.DocsTotal, &t.BytesDone, &t.BytesTotal, &t.Attempts, &failure,
		&t.FailureDetail, &retry, &t.CorrelationID, &t.RequestID, &expires, &t.Created, &t.Updated, &finished}, extra...)...)
	if err != nil {
		return transfer.Transfer{}, err
	}
	t.Status, t.Failure, t.Retry = transfer.Status(status), transfer.Reason(failure), transfer.Retry(retry)
	if expires != nil {
		t.TokenExpires = *expires
	}
	if finished != nil {
		t.Finished = *finished
	}
	return t, nil
}

// Create inserts the transfer (status created) with its audit record, in one
// round trip.
func (s *Store) Create(ctx context.Context, t transfer.Transfer, ev audit.Event) error {
	return store.Error(s.db.OneTrip(ctx, func(b *pgx.Batch, conn *pgx.Conn) (func(pgx.BatchResults) error, error) {
		b.Queue(`insert into transfer (id, user_id, source, source_display, authorize_uri, token_uri,
			resource_uri, issuer, status, correlation_id, request_id, created_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10, $11)`,
			t.ID, t.UserID, t.Source, t.SourceDisplay, t.AuthorizeURI, t.TokenURI, t.ResourceURI, t.Issuer,
			t.CorrelationID, t.RequestID, t.Created)
		finish, err := queueFinish(b, conn, t.ID, ev)
		if err != nil {
			return nil, err
		}
		return func(res pgx.BatchResults) error {
			if _, err := res.Exec(); err != nil {
				return err
			}
			return finish(res)
		}, nil
	}))
}

// queueFinish queues the audit record and the notification of listeners
// (delivered on commit) into b, and returns the function that reads their
// results.
func queueFinish(b *pgx.Batch, conn *pgx.Conn, id string, ev audit.Event) (func(pgx.BatchResults) error, error) {
	q, err := auditdb.Queue(b, conn, ev)
	if err != nil {
		return nil, err
	}
	b.Queue(`select pg_notify($1, $2)`, Channel, id)
	return func(res pgx.BatchResults) error {
		if err := q.Read(res); err != nil {
			return err
		}
		_, err := res.Exec()
		return err
	}, nil
}

// Get returns one transfer.
func (s *Store) Get(ctx context.Context, id string) (transfer.Transfer, error) {
	t, err := scan(s.db.Pool.QueryRow(ctx, `select `+columns+` from transfer where id = $1`, id))
	return t, notFound(err)
}

// ByState returns the transfer whose OAuth state hashes to h, with its secrets,
// in one query: the owner the verifier opens for and its binding are read
// together.
func (s *Store) ByState(ctx context.Context, h []byte) (transfer.Transfer, transfer.Secrets, error) {
	var sec transfer.Secrets
	var binding string
	t, err := scan(s.db.Pool.QueryRow(ctx, `select `+columns+`, `+secretColumns+` from transfer where state_hash = $1`, h),
		&sec.StateHash, &sec.SessionHash, &sec.VerifierSealed, &sec.TokenSealed, &binding)
	if err != nil {
		return transfer.Transfer{}, transfer.Secrets{}, notFound(err)
	}
	sec.Binding = transfer.Binding(binding)
	return t, sec, nil
}

// LatestAuthorizing returns the user's newest transfer waiting for the source's
// answer in the session with hash h.
func (s *Store) LatestAuthorizing(ctx context.Context, userID string, h []byte) (transfer.Transfer, error) {
	t, err := scan(s.db.Pool.QueryRow(ctx, `select `+columns+` from transfer
		where user_id = $1 and session_hash = $2 and status = 'authorizing' order by created_at desc limit 1`, userID, h))
	return t, notFound(err)
}

// Secrets returns the sealed values of a transfer.
func (s *Store) Secrets(ctx context.Context, id string) (transfer.Secrets, error) {
	var sec transfer.Secrets
	var binding string
	err := s.db.Pool.QueryRow(ctx, `select `+secretColumns+` from transfer where id = $1`, id).Scan(&sec.StateHash, &sec.SessionHash, &sec.VerifierSealed, &sec.TokenSealed, &binding)
	sec.Binding = transfer.Binding(binding)
	return sec, notFound(err)
}

// secretColumns are the secrets and secret_binding, the binding of both sealed
// ones (migration 026): every statement that stores a sealed secret stores it.
const secretColumns = `state_hash, session_hash, verifier_sealed, token_sealed, secret_binding`

// Authorizing stores a new state and verifier on a created or authorizing transfer.
func (s *Store) Authorizing(ctx context.Context, id string, sec transfer.Secrets, ev audit.Event) (bool, error) {
	return s.cas(ctx, id, ev, false, stmt{`update transfer set status = 'authorizing', state_hash = $2, session_hash = $3,
			verifier_sealed = $4, secret_binding = $5, updated_at = now() where id = $1 and status in ('created', 'authorizing')`,
		[]any{id, sec.StateHash, sec.SessionHash, sec.VerifierSealed, string(sec.Binding)}})
}

// ClaimVerifier clears the sealed verifier of an authorizing transfer when it is
// still the value the caller read: a compare-and-set on the verifier, so that of
// two callbacks with the same state only one redeems the code (the other's
// update finds the verifier gone once the first commits). The status does not
// change, so no audit record is written here: the redemption's outcome is
// recorded (Authorized or Fail).
func (s *Store) ClaimVerifier(ctx context.Context, id string, sealed []byte) (bool, error) {
	tag, err := s.db.Pool.Exec(ctx, `update transfer set verifier_sealed = null, updated_at = now()
		where id = $1 and status = 'authorizing' and verifier_sealed = $2`, id, sealed)
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Authorized moves the transfer to authorized from one of from, stores the sealed
// token with its binding (unless nil: a retry keeps the token and binding it
// has), forgets the verifier, and enqueues the fetch task, all in one transaction. The state hash stays (Fail
// and the step to done drop it), so a second callback with the same state, which lost
// ClaimVerifier or came after this, finds the transfer and shows its progress
// instead of failing the newest waiting transfer as a state mismatch. It clears
// the run (migration 027): no earlier fetch run's change applies any more, and
// the next fetch claims the transfer afresh.
func (s *Store) Authorized(ctx context.Context, id string, from []transfer.Status, tokenSealed []byte, binding transfer.Binding, expires time.Time, ev audit.Event) (bool, error) {
	return s.cas(ctx, id, ev, true, stmt{`update transfer set status = 'authorized', verifier_sealed = null,
			token_sealed = coalesce($3, token_sealed), token_expires = coalesce($4, token_expires),
			secret_binding = case when $3::bytea is null then secret_binding else $5 end,
			failure = null, failure_detail = null, retry = '', finished_at = null, run = null, updated_at = now()
			where id = $1 and status = any($2)`, []any{id, names(from), tokenSealed, nullTime(expires), string(binding)}})
}

// Step moves the transfer from one of from to to; entering listing counts an
// attempt and claims the transfer for run (the run column takes it). Any other
// step with a run changes the row only while it is still that run's: a run
// another one claimed the transfer from loses. Entering done drops the sealed
// token, verifier and state hash in the same statement: a done transfer never
// keeps a secret, not even after a crash.
func (s *Store) Step(ctx context.Context, id, run string, from []transfer.Status, to transfer.Status, ev audit.Event) (bool, error) {
	return s.cas(ctx, id, ev, false, stmt{`update transfer set status = $3,
			run = case when $3 = 'listing' then $4::uuid else run end,
			attempts = attempts + case when $3 = 'listing' then 1 else 0 end,
			docs_done = case when $3 = 'listing' then 0 else docs_done end,
			bytes_done = case when $3 = 'listing' then 0 else bytes_done end,
			token_sealed = case when $3 = 'done' then null else token_sealed end,
			verifier_sealed = case when $3 = 'done' then null else verifier_sealed end,
			state_hash = case when $3 = 'done' then null else state_hash end,
			finished_at = case when $3 = 'done' then now() else finished_at end, updated_at = now()
			where id = $1 and status = any($2) and ($3 = 'listing' or $4::uuid is null or run = $4::uuid)`,
		[]any{id, names(from), string(to), nullRun(run)}})
}

// stmt is one statement with its arguments.
type stmt struct {
	sql  string
	args []any
}

// cas runs one compare-and-set update (an UPDATE without RETURNING); when it
// changes the row, the statements of then run after it, ev is appended,
// listeners are notified and (with enqueue) the fetch task is written to the
// outbox, in one transaction and one round trip (store.OneTrip): the update
// raises when it changed nothing (store.ExpectChange), which aborts the rest.
// A lost compare-and-set returns false and writes nothing.
func (s *Store) cas(ctx context.Context, id string, ev audit.Event, enqueue bool, update stmt, then ...stmt) (bool, error) {
	err := s.db.OneTrip(ctx, func(b *pgx.Batch, conn *pgx.Conn) (func(pgx.BatchResults) error, error) {
		b.Queue(store.ExpectChange(update.sql), update.args...)
		for _, st := range then {
			b.Queue(st.sql, st.args...)
		}
		n := 1 + len(then)
		if enqueue {
			store.QueueEnqueue(b, s.task(id))
			n++
		}
		finish, err := queueFinish(b, conn, id, ev)
		if err != nil {
			return nil, err
		}
		return func(res pgx.BatchResults) error {
			for range n {
				if _, err := res.Exec(); err != nil {
					return err
				}
			}
			return finish(res)
		}, nil
	})
	if store.NoChange(err) {
		return false, nil
	}
	return err == nil, store.Error(err)
}

// Progress records the documents listed and the bytes received of a downloading
// transfer while it is run's, and notifies; otherwise (another run claimed it,
// or it moved on) it changes nothing and does not notify. docs_done is not
// touched: StoreDocuments sets it.
func (s *Store) Progress(ctx context.Context, id, run string, docsTotal int, bytesDone, bytesTotal int64) error {
	// One statement, so one round trip: the update and, when it changed the
	// row, the notification (sent when the statement's transaction commits).
	_, err := s.db.Pool.Exec(ctx, `with u as (update transfer set docs_total = $2, bytes_done = $3, bytes_total = $4,
			updated_at = now() where id = $1 and status = 'downloading' and run = $6::uuid returning id)
		select pg_notify($5, u.id::text) from u`, id, docsTotal, bytesDone, bytesTotal, Channel, nullRun(run))
	return store.Error(err)
}

// StoreDocuments writes every document and moves verifying to stored, with ev,
// while the transfer is run's; only here do the documents count as done
// (verified and stored).
func (s *Store) StoreDocuments(ctx context.Context, id, run string, docs []transfer.StoredDocument, ev audit.Event) (bool, error) {
	inserts := make([]stmt, 0, len(docs))
	for _, d := range docs {
		inserts = append(inserts, stmt{`insert into transfer_document (id, transfer_id, user_id, remote_id, source,
				source_display, title, content_type, size, sha1, sha256, correlation_id, received_at, sealed, sealed_binding)
				values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			[]any{d.ID, d.TransferID, d.UserID, d.RemoteID, d.Source, d.SourceDisplay, d.Title, d.ContentType,
				d.Size, d.SHA1, d.SHA256, d.CorrelationID, d.Received, d.Sealed, string(d.Binding)}})
	}
	return s.cas(ctx, id, ev, false, stmt{`update transfer set status = 'stored', docs_done = $2, updated_at = now()
			where id = $1 and status = 'verifying' and run = $3::uuid`, []any{id, len(docs), nullRun(run)}}, inserts...)
}

// Fail moves a transfer to failed unless its documents are stored already (then
// only the revocation is left) or it is done or failed. It drops the state hash
// and the verifier, and with forget the sealed token too, in the same statement
// as the status and in one transaction with ev: a failed transfer never keeps a
// token no retry will use, not even after a crash, and a lost Fail (the
// transfer moved on, or with a run: another run claimed it) drops nothing.
func (s *Store) Fail(ctx context.Context, id, run string, from []transfer.Status, reason transfer.Reason, detail string, retry transfer.Retry, forget bool, ev audit.Event) (bool, error) {
	var only []string // nil: from any unfinished status
	if from != nil {
		only = names(from)
	}
	return s.cas(ctx, id, ev, false, stmt{`update transfer set status = 'failed', failure = $2, failure_detail = $3, retry = $4,
			state_hash = null, verifier_sealed = null, token_sealed = case when $6 then null else token_sealed end,
			finished_at = now(), updated_at = now()
			where id = $1 and status not in ('stored', 'done', 'failed') and ($5::text[] is null or status = any($5))
			and ($7::uuid is null or run = $7::uuid)`,
		[]any{id, string(reason), detail, string(retry), only, forget, nullRun(run)}})
}

// nullRun is a run id as a query argument: SQL null when empty, a change that
// is no fetch run's (the callback's, GiveUp's, finishing a transfer found
// stored), which does not check the run in Step and Fail. StoreDocuments and
// Progress are a run's only: with no run they match no row.
func nullRun(run string) any {
	if run == "" {
		return nil
	}
	return run
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return pgo.Wrap(pgo.ENOTFOUND, err, "transfer not found")
	}
	return store.Error(err)
}

func names(ss []transfer.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Unfinished returns up to limit transfers that their fetch task drives
// (authorized to stored) and that have not changed since quietSince, oldest
// first: the candidates of the worker's stalled-work sweep.
func (s *Store) Unfinished(ctx context.Context, quietSince time.Time, limit int) ([]string, error) {
	rows, err := s.db.Pool.Query(ctx, `select id::text from transfer
		where status in ('authorized', 'listing', 'downloading', 'verifying', 'stored') and updated_at < $1
		order by created_at limit $2`, quietSince, limit)
	if err != nil {
		return nil, store.Error(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, store.Error(err)
}
