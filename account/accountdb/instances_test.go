package accountdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Two instances (two pools on one database) share the per-IP throttle and the
// per-account, per-source delay, because both live in PostgreSQL.
func TestInstancesAgreeOnThrottleAndLockout(t *testing.T) {
	ctx := context.Background()
	url := storetest.Schema(t)
	cfg := testCfg
	cfg.IPLimit = 6
	var svcs []*account.Service
	_, v := testVault(t) // one keyset, as every instance of a deployment shares it
	for i := 0; i < 2; i++ {
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		svc, err := account.New(accountdb.New(db, auditdb.Append), v, cfg)
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	if _, err := svcs[0].Create(ctx, "jan", account.RolePatient, pw, account.Client{}); err != nil {
		t.Fatal(err)
	}
	// Three wrong passwords from cli's source, spread over both instances, make
	// that source wait on both; another source is not affected.
	for i := 0; i < cfg.MaxFailures; i++ {
		svcs[i%2].Password(ctx, "", "jan", "wrong-password-1", cli)
	}
	other := cli
	other.IP = "198.51.100.7"
	for _, s := range svcs {
		if _, err := s.Password(ctx, "", "jan", pw, cli); !errors.Is(err, account.ErrLoginFailed) {
			t.Fatalf("source delay not shared: %v", err)
		}
		if _, err := s.Password(ctx, "", "jan", pw, other); err != nil {
			t.Fatalf("another source delayed too: %v", err)
		}
	}
	// The seventh attempt from cli's IP, on either instance, is throttled.
	if _, err := svcs[1].Password(ctx, "", "nobody", pw, cli); err == nil || errors.Is(err, account.ErrTooManyAttempts) {
		t.Fatalf("sixth attempt: %v", err)
	}
	if _, err := svcs[0].Password(ctx, "", "nobody", pw, cli); !errors.Is(err, account.ErrTooManyAttempts) {
		t.Fatalf("seventh attempt across instances not throttled: %v", err)
	}
}

func TestDeleteExpired(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	f.login(t, "jan", secret)
	f.svc.StartAnonymous(ctx, cli)
	st := accountdb.New(f.db, auditdb.Append)
	if n, err := st.DeleteExpired(ctx, f.clock.now(), testCfg.IdleTimeout); err != nil || n != 0 {
		t.Fatalf("live sessions deleted: %d %v", n, err)
	}
	if n, err := st.DeleteExpired(ctx, f.clock.now().Add(testCfg.IdleTimeout+time.Second), testCfg.IdleTimeout); err != nil || n != 2 {
		t.Fatalf("idle sessions: %d deleted, %v", n, err)
	}
}
