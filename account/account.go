// Package account holds the people who log in to this PGO (patients and auditors):
// accounts with a password (argon2id) and a TOTP second factor (RFC 6238), login
// through an external OpenID Connect provider, server-side sessions, lockout and
// per-IP throttling. Every login, failure, lockout and logout is written to the audit
// log in the same transaction as the state change (NEN 7513; MedMij PGOK-FR001).
//
// The package does not know SQL: it declares the Store it needs and
// account/accountdb implements it on PostgreSQL.
package account

import (
	"context"
	"regexp"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/config"
)

// Role says what an account may do.
type Role string

const (
	RolePatient Role = "patient" // sees and moves their own dossier, sees their own log
	RoleAuditor Role = "auditor" // reads the audit log (NEN 7513 §9)
)

// ParseRole accepts "patient" or "auditor".
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RolePatient, RoleAuditor:
		return Role(s), nil
	}
	return "", pgo.Errorf(pgo.EINVALID, "role: %q is not patient or auditor", s)
}

// Account is one person who can log in. Secrets stay in this struct and never in
// a log line or error.
type Account struct {
	ID           string
	Name         string
	Role         Role
	PasswordHash string // argon2id PHC string; empty for OIDC-only accounts
	// TOTPSealed is the TOTP seed sealed under TOTPObjectID(ID) (Sealer); the
	// plain seed exists only inside one call.
	TOTPSealed   []byte
	TOTPLastStep int64 // the last accepted RFC 6238 time step (replay guard)
	// TOTPPendingSealed is a new seed awaiting confirmation (enrolment page),
	// sealed under PendingTOTPObjectID(ID).
	TOTPPendingSealed []byte
	// TOTPPendingSession is the hash of the session id that proved the
	// current factor and began the pending enrolment, TOTPPendingAt when it
	// began: only that session may see or confirm the new seed, and only
	// within enrolWindow (ASVS 5.0 V6.4.3).
	TOTPPendingSession []byte
	TOTPPendingAt      time.Time
	OIDCIssuer         string
	OIDCSubject        string
	Failures           int // consecutive second-factor failures since the last success or lock
	// FailedSinceLogin counts every failed attempt (password or second factor,
	// from any source) since the last successful login; the next login tells
	// the owner.
	FailedSinceLogin int
	LockedUntil      time.Time // zero: not locked
	Disabled         bool      // locked by an operator (pgo user lock)
	CreatedAt        time.Time
}

// Locked reports whether logins are refused at now.
func (a *Account) Locked(now time.Time) bool {
	return a.Disabled || a.LockedUntil.After(now)
}

// Client describes where a request came from, for the audit log.
type Client struct {
	IP            string
	UserAgent     string
	RequestID     string
	CorrelationID string
}

// Tx is what the account domain does inside one database transaction. Methods
// that look an account up return an ENOTFOUND *pgo.Error when there is none and
// lock the row (SELECT ... FOR UPDATE) so that concurrent logins serialise.
type Tx interface {
	CreateAccount(ctx context.Context, a *Account) error
	AccountByName(ctx context.Context, name string) (*Account, error)
	AccountByID(ctx context.Context, id string) (*Account, error)
	AccountBySubject(ctx context.Context, issuer, subject string) (*Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// SaveLoginState writes Failures, LockedUntil, Disabled, TOTPLastStep and
	// FailedSinceLogin.
	SaveLoginState(ctx context.Context, a *Account) error
	// SetPasswordHash replaces the account's password hash with newHash only
	// while it is still verified (compare-and-set); false when it is not (changed
	// meanwhile), and then nothing is written.
	SetPasswordHash(ctx context.Context, accountID, verified, newHash string) (bool, error)
	// SourceFailures returns the wrong passwords for the account from one
	// source (ipKey) and until when that source must wait (zero: it need not);
	// the row is locked for the transaction.
	SourceFailures(ctx context.Context, accountID, source string) (failures int, blockedUntil time.Time, err error)
	SetSourceFailures(ctx context.Context, accountID, source string, failures int, blockedUntil time.Time) error
	ClearSourceFailures(ctx context.Context, accountID, source string) error
	// SaveTOTP writes TOTPSealed, TOTPLastStep, TOTPPendingSealed,
	// TOTPPendingSession and TOTPPendingAt.
	SaveTOTP(ctx context.Context, a *Account) error
	// AddRecoveryCodes adds codes; replace first deletes the account's old ones.
	AddRecoveryCodes(ctx context.Context, accountID string, hashes [][]byte, replace bool) error
	// UnusedRecoveryCodes returns the stored hashes of the account's unused
	// recovery codes (at most ten; each is argon2id with its own salt).
	UnusedRecoveryCodes(ctx context.Context, accountID string) ([][]byte, error)
	// UseRecoveryCode marks the unused code with this stored hash as used; false
	// when there is none (used meanwhile).
	UseRecoveryCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error)

	CreateSession(ctx context.Context, s *Session) error
	// SessionByHash returns the session (row locked) or ENOTFOUND.
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	DeleteAccountSessions(ctx context.Context, accountID string) (int, error)

	// Hit counts one attempt for key in the fixed window starting at window and
	// returns the count so far, atomically across instances.
	Hit(ctx context.Context, key string, window time.Time) (int, error)

	SaveOIDCRequest(ctx context.Context, r *OIDCRequest) error
	// TakeOIDCRequest deletes and returns the pending request, or ENOTFOUND.
	TakeOIDCRequest(ctx context.Context, stateHash []byte) (*OIDCRequest, error)

	// Audit appends ev to the audit log in this transaction.
	Audit(ctx context.Context, ev audit.Event) error
}

// Store runs fn in one transaction: committed when fn returns nil.
type Store interface {
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// PeekSession reads the session outside a transaction, without a lock
	// (one round trip), or ENOTFOUND: for a request whose session needs no
	// write (Session).
	PeekSession(ctx context.Context, hash []byte) (*Session, error)
}

// Config is the account part of the service configuration.
type Config struct {
	Argon2          Argon2Params
	IdleTimeout     time.Duration // ASVS 5.0 V7.3.1; the issue asks 15 minutes
	AbsoluteTimeout time.Duration // ASVS 5.0 V7.3.2
	// MaxFailures is how many wrong passwords one source may try per account
	// before it must wait (growing delays, up to LockoutDuration), and how many
	// wrong second-factor codes lock the account for LockoutDuration.
	MaxFailures     int
	LockoutDuration time.Duration
	IPLimit         int           // login attempts per IP per IPWindow
	IPWindow        time.Duration //
	Issuer          string        // shown in authenticator apps (the PGO's name)
	// MaxConcurrentHashes bounds the password checks running at once (each
	// argon2id holds Argon2.MemoryKiB); 0 means twice the CPUs. HashQueueWait is how
	// long a login waits for a slot before it is told to retry (0: 2 s).
	MaxConcurrentHashes int
	HashQueueWait       time.Duration
}

// ConfigFrom maps the PGO_* settings onto Config.
func ConfigFrom(c config.Account, instanceName string) Config {
	return Config{
		Argon2:          Argon2Params{Time: uint32(c.Argon2Time), MemoryKiB: uint32(c.Argon2MemoryKiB), Threads: 1},
		IdleTimeout:     c.IdleTimeout,
		AbsoluteTimeout: c.AbsoluteTimeout,
		MaxFailures:     c.MaxFailures,
		LockoutDuration: c.LockoutDuration,
		IPLimit:         c.IPLimit,
		IPWindow:        c.IPWindow,
		Issuer:          instanceName,
	}
}

// Service is the account domain. It is safe for concurrent use.
type Service struct {
	store     Store
	sealer    Sealer
	cfg       Config
	now       func() time.Time
	dummyHash string // verified for unknown names so that timing does not tell
	hashSlots chan struct{}
}

// New returns a Service that keeps TOTP seeds sealed with sealer. It hashes one
// dummy password, so it costs one argon2id run.
func New(store Store, sealer Sealer, cfg Config) (*Service, error) {
	if sealer == nil {
		return nil, pgo.Errorf(pgo.EINTERNAL, "account: a Sealer for the TOTP seeds is required")
	}
	h, err := HashPassword("dummy-password-for-timing", cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, sealer: sealer, cfg: cfg, now: time.Now, dummyHash: h,
		hashSlots: newHashSlots(cfg.MaxConcurrentHashes)}, nil
}

// SetClock replaces the clock (tests: lockout expiry, session timeouts).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,63}$`)

// CheckName accepts 2-64 lower-case letters, digits and . _ @ - (so that names are
// unambiguous in logs and in the CLI).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return pgo.Errorf(pgo.EINVALID, "name: use 2-64 lower-case letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
	}
	return nil
}
