// Package accountdb implements account.Store on PostgreSQL (migrations 004 and 007:
// the TOTP seeds are vault ciphertexts made by package account). Every
// error passes through store.Error, so callers see *pgo.Error codes only.
package accountdb

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// AuditFunc appends one audit record inside tx; in production auditdb.Append.
type AuditFunc func(ctx context.Context, tx pgx.Tx, ev audit.Event) error

// Store is the PostgreSQL account store.
type Store struct {
	db    *store.DB
	audit AuditFunc
}

// New returns a Store that writes audit records with appendAudit.
func New(db *store.DB, appendAudit AuditFunc) *Store {
	return &Store{db: db, audit: appendAudit}
}

// InTx runs fn in one transaction (store.DB.WithTx: retried on serialization
// failures, errors mapped). Audit events fn records are appended after fn, just
// before commit, in the same transaction (auditdb.Append takes no shared lock
// since the audit linker; appending last keeps the record's time after the
// state change it records).
func (s *Store) InTx(ctx context.Context, fn func(tx account.Tx) error) error {
	return s.db.WithTx(ctx, func(tx pgx.Tx) error {
		t := &txn{tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		for _, ev := range t.events {
			if err := s.audit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

type txn struct {
	tx     pgx.Tx
	events []audit.Event
}

// Audit queues ev; InTx appends it in this transaction before commit.
func (t *txn) Audit(ctx context.Context, ev audit.Event) error {
	t.events = append(t.events, ev)
	return nil
}

const accountCols = `id::text, name, role, coalesce(password_hash, ''), coalesce(totp_sealed, ''::bytea),
	totp_last_step, coalesce(totp_pending_sealed, ''::bytea), coalesce(oidc_issuer, ''), coalesce(oidc_subject, ''), failures,
	coalesce(locked_until, 'epoch'::timestamptz), disabled, created_at, failed_since_login,
	coalesce(totp_pending_session, ''::bytea), coalesce(totp_pending_at, 'epoch'::timestamptz)`

func scanAccount(row pgx.Row) (*account.Account, error) {
	var a account.Account
	var role string
	err := row.Scan(&a.ID, &a.Name, &role, &a.PasswordHash, &a.TOTPSealed, &a.TOTPLastStep, &a.TOTPPendingSealed,
		&a.OIDCIssuer, &a.OIDCSubject, &a.Failures, &a.LockedUntil, &a.Disabled, &a.CreatedAt, &a.FailedSinceLogin,
		&a.TOTPPendingSession, &a.TOTPPendingAt)
	if err != nil {
		return nil, store.Error(err)
	}
	a.Role = account.Role(role)
	if a.LockedUntil.Equal(time.Unix(0, 0)) {
		a.LockedUntil = time.Time{}
	}
	if a.TOTPPendingAt.Equal(time.Unix(0, 0)) {
		a.TOTPPendingAt = time.Time{}
	}
	return &a, nil
}

func (t *txn) CreateAccount(ctx context.Context, a *account.Account) error {
	_, err := t.tx.Exec(ctx, `insert into accounts (id, name, role, password_hash, totp_sealed,
		oidc_issuer, oidc_subject, created_at)
		values ($1, $2, $3, nullif($4, ''), $5, nullif($6, ''), nullif($7, ''), $8)`,
		a.ID, a.Name, string(a.Role), a.PasswordHash, nilIfEmpty(a.TOTPSealed), a.OIDCIssuer, a.OIDCSubject, a.CreatedAt)
	return store.Error(err)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (t *txn) AccountByName(ctx context.Context, name string) (*account.Account, error) {
	return scanAccount(t.tx.QueryRow(ctx, `select `+accountCols+` from accounts where name = $1 for update`, name))
}

func (t *txn) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	return scanAccount(t.tx.QueryRow(ctx, `select `+accountCols+` from accounts where id = $1::uuid for update`, id))
}

func (t *txn) AccountBySubject(ctx context.Context, issuer, subject string) (*account.Account, error) {
	return scanAccount(t.tx.QueryRow(ctx, `select `+accountCols+` from accounts
		where oidc_issuer = $1 and oidc_subject = $2 for update`, issuer, subject))
}

func (t *txn) ListAccounts(ctx context.Context) ([]account.Account, error) {
	rows, err := t.tx.Query(ctx, `select `+accountCols+` from accounts order by name`)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var out []account.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, store.Error(rows.Err())
}

func (t *txn) SaveLoginState(ctx context.Context, a *account.Account) error {
	var locked any
	if !a.LockedUntil.IsZero() {
		locked = a.LockedUntil
	}
	_, err := t.tx.Exec(ctx, `update accounts set failures = $2, locked_until = $3, disabled = $4,
		totp_last_step = $5, failed_since_login = $6 where id = $1::uuid`,
		a.ID, a.Failures, locked, a.Disabled, a.TOTPLastStep, a.FailedSinceLogin)
	return store.Error(err)
}

// SetPasswordHash is a compare-and-set on password_hash: the row is written only
// while it still holds the hash the caller verified the current password
// against, so two concurrent changes cannot both win.
func (t *txn) SetPasswordHash(ctx context.Context, accountID, verified, newHash string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `update accounts set password_hash = $3
		where id = $1::uuid and password_hash = $2`, accountID, verified, newHash)
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *txn) SourceFailures(ctx context.Context, accountID, source string) (int, time.Time, error) {
	var n int
	var until *time.Time
	err := t.tx.QueryRow(ctx, `select failures, blocked_until from login_source
		where account_id = $1::uuid and source = $2 for update`, accountID, source).Scan(&n, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil || until == nil {
		return n, time.Time{}, store.Error(err)
	}
	return n, *until, nil
}

func (t *txn) SetSourceFailures(ctx context.Context, accountID, source string, failures int, blockedUntil time.Time) error {
	var until any
	if !blockedUntil.IsZero() {
		until = blockedUntil
	}
	_, err := t.tx.Exec(ctx, `insert into login_source (account_id, source, failures, blocked_until)
		values ($1::uuid, $2, $3, $4)
		on conflict (account_id, source) do update set failures = excluded.failures, blocked_until = excluded.blocked_until`,
		accountID, source, failures, until)
	return store.Error(err)
}

func (t *txn) ClearSourceFailures(ctx context.Context, accountID, source string) error {
	_, err := t.tx.Exec(ctx, `delete from login_source where account_id = $1::uuid and source = $2`, accountID, source)
	return store.Error(err)
}

func (t *txn) SaveTOTP(ctx context.Context, a *account.Account) error {
	var pendingAt any
	if !a.TOTPPendingAt.IsZero() {
		pendingAt = a.TOTPPendingAt
	}
	_, err := t.tx.Exec(ctx, `update accounts set totp_sealed = $2, totp_last_step = $3, totp_pending_sealed = $4,
		totp_pending_session = $5, totp_pending_at = $6 where id = $1::uuid`, a.ID, nilIfEmpty(a.TOTPSealed),
		a.TOTPLastStep, nilIfEmpty(a.TOTPPendingSealed), nilIfEmpty(a.TOTPPendingSession), pendingAt)
	return store.Error(err)
}

func (t *txn) AddRecoveryCodes(ctx context.Context, accountID string, hashes [][]byte, replace bool) error {
	if replace {
		if _, err := t.tx.Exec(ctx, `delete from recovery_codes where account_id = $1::uuid`, accountID); err != nil {
			return store.Error(err)
		}
	}
	for _, h := range hashes {
		if _, err := t.tx.Exec(ctx, `insert into recovery_codes (account_id, code_hash) values ($1::uuid, $2)`, accountID, h); err != nil {
			return store.Error(err)
		}
	}
	return nil
}

func (t *txn) UnusedRecoveryCodes(ctx context.Context, accountID string) ([][]byte, error) {
	rows, err := t.tx.Query(ctx, `select code_hash from recovery_codes
		where account_id = $1::uuid and used_at is null for update`, accountID)
	if err != nil {
		return nil, store.Error(err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	return hashes, store.Error(err)
}

func (t *txn) UseRecoveryCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `update recovery_codes set used_at = $3
		where account_id = $1::uuid and code_hash = $2 and used_at is null`, accountID, hash, at)
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}
