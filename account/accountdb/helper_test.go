package accountdb_test

import (
	"context"
	"encoding/base32"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testCfg = account.Config{
	Argon2:          account.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1},
	IdleTimeout:     15 * time.Minute,
	AbsoluteTimeout: 8 * time.Hour,
	MaxFailures:     3,
	LockoutDuration: 15 * time.Minute,
	IPLimit:         1000,
	IPWindow:        15 * time.Minute,
	Issuer:          "PGO Test",
}

type fixture struct {
	db     *store.DB
	svc    *account.Service
	clock  *clock
	keyset string // the vault's keyset file (for rotations)
	vault  *vault.Vault
}

func setup(t *testing.T, cfg account.Config) *fixture {
	t.Helper()
	db := storetest.DB(t)
	keyset, v := testVault(t)
	svc, err := account.New(accountdb.New(db, auditdb.Append), v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	svc.SetClock(c.now)
	return &fixture{db: db, svc: svc, clock: c, keyset: keyset, vault: v}
}

// testVault creates a real keyset file for the test and opens it: the TOTP seeds
// are sealed as in production.
func testVault(t testing.TB) (string, *vault.Vault) {
	t.Helper()
	v, keyset := vaulttest.New(t)
	return keyset, v
}

// auditActions lists the audit actions (with reason on failures) written so far,
// oldest first, optionally only for one person.
func (f *fixture) auditActions(t *testing.T) []string {
	t.Helper()
	var out []string
	err := f.db.WithTx(context.Background(), func(tx pgx.Tx) error {
		return auditdb.Scan(context.Background(), tx, audit.Filter{}, func(r *audit.Record) error {
			s := string(r.Action)
			if r.Reason != "" {
				s += ":" + r.Reason
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b32decode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}
