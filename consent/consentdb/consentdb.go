// Package consentdb stores grants, authorization codes, PKCE challenges and access
// tokens (package consent) in PostgreSQL. Codes and tokens are stored only as
// their SHA-256; redemption and every state change are compare-and-set updates. A
// context that carries a transaction (InTx, Begin) makes every method join it, so
// that the grant, its code, its export job with the outbox row and the audit
// records commit together.
package consentdb

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
)

// ExportCreator queues the creation of an export job into a batch of the
// caller's transaction (exportdb.Store).
type ExportCreator interface {
	QueueCreate(b *pgx.Batch, conn *pgx.Conn, job export.Job, ev audit.Event) (func(pgx.BatchResults) error, error)
}

// Store implements consent.Store.
type Store struct {
	db      *store.DB
	exports ExportCreator
}

var _ consent.Store = (*Store)(nil)

// New returns the store on db; exports creates the export job of a grant.
func New(db *store.DB, exports ExportCreator) *Store { return &Store{db: db, exports: exports} }

type txKey struct{}

// nestedKey marks a context whose Begin found a transaction already open: its
// Commit and Rollback leave that outer transaction to its owner.
type nestedKey struct{}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func txOf(ctx context.Context) pgx.Tx {
	tx, _ := ctx.Value(txKey{}).(pgx.Tx)
	return tx
}

func (s *Store) q(ctx context.Context) querier {
	if tx := txOf(ctx); tx != nil {
		return tx
	}
	return s.db.Pool
}

// InTx runs fn in one transaction (or in the context's, when it has one).
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if txOf(ctx) != nil {
		return fn(ctx)
	}
	return s.db.WithTx(ctx, func(tx pgx.Tx) error { return fn(context.WithValue(ctx, txKey{}, tx)) })
}

// Begin starts a transaction and returns a context carrying it (fosite's
// storage.Transactional).
func (s *Store) Begin(ctx context.Context) (context.Context, error) {
	if txOf(ctx) != nil {
		return context.WithValue(ctx, nestedKey{}, true), nil
	}
	tx, err := s.db.Pool.Begin(ctx)
	if err != nil {
		return ctx, store.Error(err)
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the context's transaction.
func (s *Store) Commit(ctx context.Context) error {
	if tx := txOf(ctx); tx != nil && ctx.Value(nestedKey{}) == nil {
		return store.Error(tx.Commit(ctx))
	}
	return nil
}

// Rollback rolls the context's transaction back.
func (s *Store) Rollback(ctx context.Context) error {
	if tx := txOf(ctx); tx != nil && ctx.Value(nestedKey{}) == nil {
		err := tx.Rollback(ctx)
		if errors.Is(err, pgx.ErrTxClosed) {
			return nil
		}
		return store.Error(err)
	}
	return nil
}

// Audit appends evs in the context's transaction, or in one of their own, in
// one round trip.
func (s *Store) Audit(ctx context.Context, evs ...audit.Event) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		tx := txOf(ctx)
		b := &pgx.Batch{}
		q, err := auditdb.Queue(b, tx.Conn(), evs...)
		if err != nil {
			return err
		}
		return sendBatch(ctx, tx, b, q.Read)
	})
}

// sendBatch sends b in tx and reads its results with read.
func sendBatch(ctx context.Context, tx batchSender, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if err := read(res); err != nil {
		return store.Error(err)
	}
	return store.Error(res.Close())
}

// CreateExport creates the grant's export job in the context's transaction.
//
// The export may be deleted PGO_EXPORT_GRACE after its grant's end even when no
// target ever redeems the code (issue 11), so serve_until starts at the grant's
// expiry (the grant is written first, in the same transaction); a token that
// uses the export moves it later, and an ended grant sets grant_ended_at
// (EndGrant).
func (s *Store) CreateExport(ctx context.Context, job export.Job, ev audit.Event) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		tx := txOf(ctx)
		b := &pgx.Batch{}
		create, err := s.exports.QueueCreate(b, tx.Conn(), job, ev)
		if err != nil {
			return err
		}
		b.Queue(serveUntilSQL, job.ID)
		return sendBatch(ctx, tx, b, func(res pgx.BatchResults) error {
			if err := create(res); err != nil {
				return err
			}
			_, err := res.Exec()
			return err
		})
	})
}

// serveUntilSQL sets the export's serve_until to the latest expiry of the
// grants that name it (found by the index consent_grant_export_job).
const serveUntilSQL = `update export_job set serve_until = (select max(expires_at) from consent_grant
	where export_job_id = $1) where id = $1`

const grantColumns = `id, account_id, client_id, client_name, scope, categories, state, coalesce(export_job_id::text, ''),
	request_id, correlation_id, source_ip, created_at, expires_at, ended_at`

func scanGrant(row pgx.Row) (consent.Grant, error) { return scanGrantAfter(row) }

// scanGrantAfter scans a row of the columns of before followed by grantColumns.
func scanGrantAfter(row pgx.Row, before ...any) (consent.Grant, error) {
	var g consent.Grant
	var cats []string
	var ended *time.Time
	err := row.Scan(append(before, &g.ID, &g.AccountID, &g.ClientID, &g.ClientName, &g.Scope, &cats, &g.State, &g.ExportJobID,
		&g.RequestID, &g.CorrelationID, &g.SourceIP, &g.Created, &g.Expires, &ended)...)
	if err != nil {
		return g, store.Error(err)
	}
	for _, c := range cats {
		g.Categories = append(g.Categories, dossier.Category(c))
	}
	if ended != nil {
		g.Ended = *ended
	}
	return g, nil
}

// CreateGrant writes a new grant and supersedes the earlier undecided ones of
// the same flow (consent.Store).
//
// Two decisions of the same flow (a double submit) can run at once: under READ
// COMMITTED neither statement sees the other's uncommitted grant, and both
// stayed active. So the statement comes after a transaction-scoped advisory lock
// on the flow (account, client, authorize state), sent in the same batch (no
// extra round trip): a second decision waits until the first has committed or
// rolled back, and its statement, with a snapshot taken after that, supersedes
// the first grant as the sequential case does. The lock is held to the end of
// the caller's transaction (consent.Service.grant writes the grant first), so
// the grant's audit record commits with it.
func (s *Store) CreateGrant(ctx context.Context, g consent.Grant) ([]string, error) {
	cats := make([]string, 0, len(g.Categories))
	for _, c := range g.Categories {
		cats = append(cats, string(c))
	}
	var job, ended any
	if g.ExportJobID != "" {
		job = g.ExportJobID
	}
	if !g.Ended.IsZero() {
		ended = g.Ended
	}
	b := &pgx.Batch{}
	if len(g.AuthorizeStateHash) > 0 {
		b.Queue(flowLockSQL, g.AccountID, g.ClientID, g.AuthorizeStateHash)
	}
	b.Queue(createGrantSQL, g.ID, g.AccountID, g.ClientID, g.ClientName, g.Scope, cats, string(g.State), job,
		g.RequestID, g.CorrelationID, g.SourceIP, g.Created, g.Expires, ended, g.AuthorizeStateHash)
	var superseded []string
	err := s.sendBatch(ctx, b, func(res pgx.BatchResults) error {
		if len(g.AuthorizeStateHash) > 0 {
			if _, err := res.Exec(); err != nil {
				return err
			}
		}
		rows, err := res.Query()
		if err != nil {
			return err
		}
		superseded, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return superseded, err
}

// batchSender is a transaction or the pool (one implicit transaction per batch).
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendBatch sends b in the context's transaction or, without one, on the pool
// (as one implicit transaction), and reads its results with read.
func (s *Store) sendBatch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	var to batchSender = s.db.Pool
	if tx := txOf(ctx); tx != nil {
		to = tx
	}
	return sendBatch(ctx, to, b, read)
}

// flowLockSQL serializes the decisions of one authorization flow until their
// transactions end (see CreateGrant); a hash collision only makes two flows wait
// for each other.
const flowLockSQL = `select pg_advisory_xact_lock(hashtext('pgo: consent decision'),
	hashtext($1::text || ' ' || $2::text || ' ' || encode($3::bytea, 'hex')))`

// createGrantSQL is one statement, so the superseding costs no round trip: the
// data-modifying CTEs see the table as it was before it, and touch other rows
// than the insert.
const createGrantSQL = `with earlier as (
		update consent_grant p set state = 'superseded', ended_at = $12
		where account_id = $2 and client_id = $3 and authorize_state_hash = $15 and state = 'active'
		and not exists (select 1 from oauth_code c where c.grant_id = p.id and c.used_at is not null)
		returning id, export_job_id),
	export_end as (update export_job set grant_ended_at = coalesce(grant_ended_at, $12)
		where id in (select export_job_id from earlier) returning 1),
	created as (insert into consent_grant (id, account_id, client_id, client_name, scope, categories,
		state, export_job_id, request_id, correlation_id, source_ip, created_at, expires_at, ended_at,
		authorize_state_hash)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning 1)
	select id::text from earlier`

// Grant returns one grant.
func (s *Store) Grant(ctx context.Context, id string) (consent.Grant, error) {
	return scanGrant(s.q(ctx).QueryRow(ctx, `select `+grantColumns+` from consent_grant where id = $1`, id))
}

// Grants lists an account's grants, newest first (at most 200).
func (s *Store) Grants(ctx context.Context, accountID string) ([]consent.Grant, error) {
	rows, err := s.q(ctx).Query(ctx, `select `+grantColumns+` from consent_grant where account_id = $1
		order by created_at desc, id limit 200`, accountID)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var out []consent.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, store.Error(rows.Err())
}

// EndGrant moves an active grant to state (compare-and-set) and, in the same
// statement, marks its export's grant as ended, so the rendered document is
// deleted PGO_EXPORT_GRACE later (issue 11; exportdb.Store.DeleteExpired).
func (s *Store) EndGrant(ctx context.Context, id string, to consent.State, t time.Time) (bool, error) {
	var n int
	err := s.q(ctx).QueryRow(ctx, `with g as (
			update consent_grant set state = $2, ended_at = $3
			where id = $1 and state = 'active' returning export_job_id),
		e as (update export_job set grant_ended_at = coalesce(grant_ended_at, $3)
			where id in (select export_job_id from g) returning 1)
		select count(*) from g`, id, string(to), t).Scan(&n)
	if err != nil {
		return false, store.Error(err)
	}
	return n == 1, nil
}

// CreateCode stores a code's hash and request.
func (s *Store) CreateCode(ctx context.Context, c consent.Code) error {
	_, err := s.q(ctx).Exec(ctx, `insert into oauth_code (signature, request_id, grant_id, request, expires_at)
		values ($1, $2, $3, $4, $5)`, c.Signature, c.RequestID, c.GrantID, c.Request, c.Expires)
	return store.Error(err)
}

// Code returns a code by its hash.
func (s *Store) Code(ctx context.Context, sig []byte) (consent.Code, error) {
	var c consent.Code
	var used *time.Time
	err := s.q(ctx).QueryRow(ctx, `select signature, request_id, grant_id::text, request, expires_at, used_at
		from oauth_code where signature = $1`, sig).Scan(&c.Signature, &c.RequestID, &c.GrantID, &c.Request, &c.Expires, &used)
	if err != nil {
		return c, store.Error(err)
	}
	if used != nil {
		c.Used = *used
	}
	return c, nil
}

// UseCode redeems a code once: only the update that finds used_at null wins.
func (s *Store) UseCode(ctx context.Context, sig []byte, t time.Time) (bool, error) {
	tag, err := s.q(ctx).Exec(ctx, `update oauth_code set used_at = $2 where signature = $1 and used_at is null`, sig, t)
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Redemption reads a code, its PKCE challenge and its grant in one statement
// (the token request used to read the code twice, the challenge and the grant
// in four round trips).
func (s *Store) Redemption(ctx context.Context, sig []byte) (consent.Redemption, error) {
	var r consent.Redemption
	var used *time.Time
	row := s.q(ctx).QueryRow(ctx, `select c.signature, c.request_id, c.grant_id::text, c.request, c.expires_at, c.used_at,
		p.request, g.*
		from oauth_code c cross join lateral (select `+grantColumns+` from consent_grant where id = c.grant_id) g
		left join oauth_pkce p on p.signature = c.signature
		where c.signature = $1`, sig)
	g, err := scanGrantAfter(row, &r.Code.Signature, &r.Code.RequestID, &r.Code.GrantID, &r.Code.Request,
		&r.Code.Expires, &used, &r.PKCE)
	if err != nil {
		return r, err
	}
	if used != nil {
		r.Code.Used = *used
	}
	r.Grant = g
	return r, nil
}

// redeemSQL uses the code and stores the token in one statement: the code's
// compare-and-set (only the update that finds used_at null wins), then the token
// row, written only when its grant is the code's and is active and unexpired at
// t. The grant row is read "for share": a withdrawal (or any end) of the grant
// in flight holds the row, so the statement waits for it and, once it has
// committed, sees the grant ended (READ COMMITTED rechecks a locked row); a
// plain read would see the grant still active and store a token the
// withdrawal's revocation never saw. It ends with oauth_redeem_check (migration
// 015), which raises refusedCodeUsed when no code was used and
// refusedGrantEnded when no token was stored, so a refusal aborts the
// transaction on the server.
const redeemSQL = `with u as (
		update oauth_code set used_at = $2 where signature = $1 and used_at is null returning grant_id),
	g as (select g.id from consent_grant g join u on g.id = u.grant_id
		where g.id = $5 and g.state = 'active' and g.expires_at > $2 for share of g),
	t as (insert into oauth_token (signature, id, request_id, grant_id, client_id, thumbprint, request, expires_at)
		select $3, $4, $6, g.id, $7, $8, $9, $10 from g returning 1)
	select oauth_redeem_check((select count(*) from u), (select count(*) from t))`

// The SQLSTATEs oauth_redeem_check raises.
const (
	refusedCodeUsed   = "PGO01"
	refusedGrantEnded = "PGO02"
)

// RedeemCode uses the code, stores the token and appends evs (the token's audit
// records) in one transaction: the context's, or else one of its own that
// commits only when the code was redeemed and the token stored. What the
// statement did comes back as the outcome; on any outcome but Redeemed the
// caller rolls its transaction back.
//
// In a transaction of its own it costs one round trip: begin, the statement,
// the audit records and commit in one batch. A refusal aborts the transaction
// on the server, which then skips the rest of the batch, commit included; the
// rollback that ends it is a second round trip, on the refusal path only.
// (Issue 16: begin, the statement, each record and commit were a round trip
// each, then two.)
func (s *Store) RedeemCode(ctx context.Context, sig []byte, t time.Time, tok consent.Token, evs ...audit.Event) (consent.RedeemOutcome, error) {
	if tx := txOf(ctx); tx != nil {
		b := &pgx.Batch{}
		out, err := s.queueRedeem(b, tx.Conn(), sig, t, tok, evs)
		if err != nil {
			return 0, err
		}
		res := tx.SendBatch(ctx, b)
		o, err := out(res)
		if cerr := res.Close(); cerr != nil && err == nil && o == consent.Redeemed {
			return 0, store.Error(cerr)
		}
		return o, err
	}
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return 0, store.Error(err)
	}
	// A connection released inside a transaction (an error before commit or
	// rollback) is closed by the pool, never reused.
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`begin`)
	out, err := s.queueRedeem(b, conn.Conn(), sig, t, tok, evs)
	if err != nil {
		return 0, err
	}
	b.Queue(`commit`)
	res := conn.SendBatch(ctx, b)
	o, err := func() (consent.RedeemOutcome, error) {
		defer res.Close()
		if _, err := res.Exec(); err != nil {
			return 0, store.Error(err)
		}
		o, err := out(res)
		if err != nil || o != consent.Redeemed {
			return o, err
		}
		if _, err := res.Exec(); err != nil {
			return 0, store.Error(err)
		}
		return o, nil
	}()
	// Anything but a committed redemption leaves the transaction open (failed,
	// or never reaching its commit): end it here.
	if conn.Conn().PgConn().TxStatus() != 'I' {
		if _, rerr := conn.Exec(ctx, `rollback`); rerr != nil && err == nil {
			return 0, store.Error(rerr)
		}
	}
	return o, err
}

// queueRedeem queues the redemption statement and the audit records into b and
// returns the function that reads their results: Redeemed, or the refusal
// oauth_redeem_check raised.
func (s *Store) queueRedeem(b *pgx.Batch, conn *pgx.Conn, sig []byte, t time.Time, tok consent.Token,
	evs []audit.Event) (func(pgx.BatchResults) (consent.RedeemOutcome, error), error) {
	b.Queue(redeemSQL, sig, t, tok.Signature, tok.ID, tok.GrantID, tok.RequestID, tok.ClientID, tok.Thumbprint, tok.Request, tok.Expires)
	var q *auditdb.Queued
	if len(evs) > 0 {
		var err error
		if q, err = auditdb.Queue(b, conn, evs...); err != nil {
			return nil, err
		}
	}
	return func(res pgx.BatchResults) (consent.RedeemOutcome, error) {
		var ok bool
		if err := res.QueryRow().Scan(&ok); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				switch pe.Code {
				case refusedCodeUsed:
					return consent.CodeUsed, nil
				case refusedGrantEnded:
					return consent.GrantEnded, nil
				}
			}
			return 0, store.Error(err)
		}
		if q != nil {
			if err := q.Read(res); err != nil {
				return 0, err
			}
		}
		return consent.Redeemed, nil
	}, nil
}

// CreatePKCE stores a code's challenge.
func (s *Store) CreatePKCE(ctx context.Context, sig, request []byte) error {
	_, err := s.q(ctx).Exec(ctx, `insert into oauth_pkce (signature, request) values ($1, $2)`, sig, request)
	return store.Error(err)
}

// PKCE returns a code's challenge request; ENOTFOUND when the code had none.
func (s *Store) PKCE(ctx context.Context, sig []byte) ([]byte, error) {
	var b []byte
	err := s.q(ctx).QueryRow(ctx, `select request from oauth_pkce where signature = $1`, sig).Scan(&b)
	return b, store.Error(err)
}

// CreateToken stores an access token's hash and facts.
func (s *Store) CreateToken(ctx context.Context, t consent.Token) error {
	_, err := s.q(ctx).Exec(ctx, `insert into oauth_token (signature, id, request_id, grant_id, client_id, thumbprint,
		request, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.Signature, t.ID, t.RequestID, t.GrantID, t.ClientID, t.Thumbprint, t.Request, t.Expires)
	return store.Error(err)
}

const tokenColumns = `signature, id::text, request_id, grant_id::text, client_id, thumbprint, request, expires_at, revoked_at`

func scanToken(row pgx.Row) (consent.Token, error) {
	var t consent.Token
	var revoked *time.Time
	err := row.Scan(&t.Signature, &t.ID, &t.RequestID, &t.GrantID, &t.ClientID, &t.Thumbprint, &t.Request, &t.Expires, &revoked)
	if err != nil {
		return t, store.Error(err)
	}
	if revoked != nil {
		t.Revoked = *revoked
	}
	return t, nil
}

// Token returns a token by its hash.
func (s *Store) Token(ctx context.Context, sig []byte) (consent.Token, error) {
	return scanToken(s.q(ctx).QueryRow(ctx, `select `+tokenColumns+` from oauth_token where signature = $1`, sig))
}

// TokenGrant returns a token by its jti together with its grant (the resource
// server's check on every FHIR request: one round trip instead of two).
func (s *Store) TokenGrant(ctx context.Context, id string) (consent.Token, consent.Grant, error) {
	if !isUUID(id) {
		return consent.Token{}, consent.Grant{}, pgo.Errorf(pgo.ENOTFOUND, "no such token")
	}
	var t consent.Token
	var revoked *time.Time
	g, err := scanGrantAfter(s.q(ctx).QueryRow(ctx, `select t.signature, t.id::text, t.request_id, t.grant_id::text,
		t.client_id, t.thumbprint, t.request, t.expires_at, t.revoked_at, g.*
		from oauth_token t cross join lateral (select `+grantColumns+` from consent_grant where id = t.grant_id) g
		where t.id = $1`, id),
		&t.Signature, &t.ID, &t.RequestID, &t.GrantID, &t.ClientID, &t.Thumbprint, &t.Request, &t.Expires, &revoked)
	if err != nil {
		return t, g, err
	}
	if revoked != nil {
		t.Revoked = *revoked
	}
	return t, g, nil
}

// RevokeTokens revokes the live tokens of a request.
func (s *Store) RevokeTokens(ctx context.Context, requestID string, t time.Time) (int, error) {
	tag, err := s.q(ctx).Exec(ctx, `update oauth_token set revoked_at = $2 where request_id = $1 and revoked_at is null`, requestID, t)
	if err != nil {
		return 0, store.Error(err)
	}
	return int(tag.RowsAffected()), nil
}

// RevokeGrantTokens revokes the live tokens of a grant.
func (s *Store) RevokeGrantTokens(ctx context.Context, grantID string, t time.Time) (int, error) {
	tag, err := s.q(ctx).Exec(ctx, `update oauth_token set revoked_at = $2 where grant_id = $1 and revoked_at is null`, grantID, t)
	if err != nil {
		return 0, store.Error(err)
	}
	return int(tag.RowsAffected()), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
