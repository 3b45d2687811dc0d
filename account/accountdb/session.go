package accountdb

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/store"
)

func (t *txn) CreateSession(ctx context.Context, s *account.Session) error {
	var acc, role any
	if s.AccountID != "" {
		acc, role = s.AccountID, string(s.Role)
	}
	_, err := t.tx.Exec(ctx, `insert into sessions (id_hash, account_id, stage, role, created_at, last_seen, expires_at, failed_before)
		values ($1, $2::uuid, $3, $4, $5, $6, $7, $8)`,
		s.IDHash, acc, string(s.Stage), role, s.CreatedAt, s.LastSeen, s.ExpiresAt, s.FailedBefore)
	return store.Error(err)
}

func (t *txn) SessionByHash(ctx context.Context, hash []byte) (*account.Session, error) {
	return scanSession(t.tx.QueryRow(ctx, sessionSQL+` for update`, hash))
}

// PeekSession reads the session without a transaction or a lock.
func (s *Store) PeekSession(ctx context.Context, hash []byte) (*account.Session, error) {
	return scanSession(s.db.Pool.QueryRow(ctx, sessionSQL, hash))
}

const sessionSQL = `select id_hash, coalesce(account_id::text, ''), stage, coalesce(role, ''),
	created_at, last_seen, expires_at, failed_before from sessions where id_hash = $1`

func scanSession(row pgx.Row) (*account.Session, error) {
	var s account.Session
	var stage, role string
	err := row.Scan(&s.IDHash, &s.AccountID, &stage, &role, &s.CreatedAt, &s.LastSeen, &s.ExpiresAt, &s.FailedBefore)
	if err != nil {
		return nil, store.Error(err)
	}
	s.Stage, s.Role = account.Stage(stage), account.Role(role)
	return &s, nil
}

func (t *txn) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	_, err := t.tx.Exec(ctx, `update sessions set last_seen = $2 where id_hash = $1`, hash, at)
	return store.Error(err)
}

func (t *txn) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := t.tx.Exec(ctx, `delete from sessions where id_hash = $1`, hash)
	return store.Error(err)
}

func (t *txn) DeleteAccountSessions(ctx context.Context, accountID string) (int, error) {
	tag, err := t.tx.Exec(ctx, `delete from sessions where account_id = $1::uuid`, accountID)
	if err != nil {
		return 0, store.Error(err)
	}
	return int(tag.RowsAffected()), nil
}

// Hit is a fixed-window counter: one upsert, atomic across instances.
func (t *txn) Hit(ctx context.Context, key string, window time.Time) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `insert into login_rate (key, window_start, hits) values ($1, $2, 1)
		on conflict (key, window_start) do update set hits = login_rate.hits + 1 returning hits`, key, window).Scan(&n)
	if err != nil {
		return 0, store.Error(err)
	}
	_, err = t.tx.Exec(ctx, `delete from login_rate where key = $1 and window_start < $2`, key, window)
	return n, store.Error(err)
}

func (t *txn) SaveOIDCRequest(ctx context.Context, r *account.OIDCRequest) error {
	_, err := t.tx.Exec(ctx, `insert into oidc_requests (state_hash, session_hash, nonce, verifier, created_at)
		values ($1, $2, $3, $4, $5)`, r.StateHash, r.SessionHash, r.Nonce, r.Verifier, r.CreatedAt)
	return store.Error(err)
}

func (t *txn) TakeOIDCRequest(ctx context.Context, stateHash []byte) (*account.OIDCRequest, error) {
	var r account.OIDCRequest
	err := t.tx.QueryRow(ctx, `delete from oidc_requests where state_hash = $1
		returning state_hash, session_hash, nonce, verifier, created_at`, stateHash).
		Scan(&r.StateHash, &r.SessionHash, &r.Nonce, &r.Verifier, &r.CreatedAt)
	if err != nil {
		return nil, store.Error(err)
	}
	return &r, nil
}

// DeleteExpired removes sessions past their absolute end or idle for longer than
// idle, stale OIDC requests and old rate windows; pgo serve calls it periodically
// (the login path already refuses such sessions; this only frees the rows).
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	var n int64
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `delete from sessions where expires_at <= $1 or last_seen < $2`, now, now.Add(-idle))
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `delete from oidc_requests where created_at < $1`, now.Add(-time.Hour)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `delete from login_rate where window_start < $1`, now.Add(-24*time.Hour))
		return err
	})
	return n, err
}
