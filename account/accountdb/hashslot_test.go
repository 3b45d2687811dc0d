package accountdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
)

// slotCfg has one hash slot and a short wait for it.
var slotCfg = func() account.Config {
	c := testCfg
	c.MaxConcurrentHashes, c.HashQueueWait = 1, 50*time.Millisecond
	return c
}()

// holdHashSlot takes the service's only hash slot: a password login of holder
// takes it and then waits for holder's account row, which this test keeps
// locked until release is called.
func (f *fixture) holdHashSlot(t *testing.T, holder string) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := f.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRow(ctx, `select pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `select 1 from accounts where name = $1 for update`, holder); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Password(ctx, "", holder, pw, account.Client{IP: "198.51.100.7"}) // its own throttle row
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var n int
		err := f.db.Pool.QueryRow(ctx, `select count(*) from pg_stat_activity
			where $1::int = any(pg_blocking_pids(pid))`, pid).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holding login never waited for the row lock")
		}
	}
	return func() {
		_ = tx.Rollback(ctx)
		if err := <-done; err != nil {
			t.Errorf("holding login: %v", err)
		}
	}
}

// ConfirmEnrolment checks the session, the pending seed and the code before it
// hashes the ten new recovery codes, and hashes them in a hash slot: a wrong
// code is answered even while every slot is taken (it hashes nothing), a right
// one waits for a slot and gets ErrBusy (review finding: argon2id outside the
// bound of hashslot.go).
func TestEnrolConfirmHashesInSlotAfterChecks(t *testing.T) {
	f := setup(t, slotCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	f.enrol(t, "piet", account.RolePatient)
	sid, uri := f.beginEnrolment(t, "jan", secret)
	code := account.TOTPCode(seedOf(t, uri), account.TOTPStep(f.clock.now()))

	release := f.holdHashSlot(t, "piet")
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, "000000", cli); !errors.Is(err, account.ErrEnrolCode) {
		t.Errorf("wrong code with the slot taken: %v; want ErrEnrolCode (checked before any hashing)", err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, code, cli); !errors.Is(err, account.ErrBusy) {
		t.Errorf("right code with the slot taken: %v; want ErrBusy (hashing waits for a slot)", err)
	}
	release()
	if enr, err := f.svc.ConfirmEnrolment(ctx, sid, code, cli); err != nil || len(enr.Codes) != 10 {
		t.Fatalf("confirm with a free slot: %v", err)
	}
}

// A recovery code costs up to ten argon2id checks, so the second login step and
// BeginEnrolment take a hash slot for one (and ErrBusy when none frees up); a
// TOTP code needs none.
func TestRecoveryCodeCheckTakesHashSlot(t *testing.T) {
	f := setup(t, slotCfg)
	ctx := context.Background()
	secret, codes := f.enrol(t, "jan", account.RolePatient)
	f.enrol(t, "piet", account.RolePatient)
	_, _, sid := f.login(t, "jan", secret)
	mfa, err := f.svc.Password(ctx, "", "jan", pw, cli)
	if err != nil {
		t.Fatal(err)
	}

	release := f.holdHashSlot(t, "piet")
	if _, _, err := f.svc.SecondFactor(ctx, mfa, codes[0], cli); !errors.Is(err, account.ErrBusy) {
		t.Errorf("SecondFactor with a recovery code and the slot taken: %v; want ErrBusy", err)
	}
	if _, err := f.svc.BeginEnrolment(ctx, sid, codes[1], cli); !errors.Is(err, account.ErrBusy) {
		t.Errorf("BeginEnrolment with a recovery code and the slot taken: %v; want ErrBusy", err)
	}
	if _, _, err := f.svc.SecondFactor(ctx, mfa, f.nextCode(secret), cli); err != nil {
		t.Errorf("SecondFactor with a TOTP code and the slot taken: %v", err)
	}
	release()
	mfa, err = f.svc.Password(ctx, "", "jan", pw, cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SecondFactor(ctx, mfa, codes[0], cli); err != nil {
		t.Fatalf("recovery code with a free slot: %v", err)
	}
}
