package transfer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// crashBetween is the store with a process that dies after failing (or
// finishing) a transfer and before any separate statement that would forget
// its secrets: such a Forget never reaches the database.
type crashBetween struct{ *transferdb.Store }

func (crashBetween) Forget(context.Context, string) error { return errors.New("the worker died here") }

// A second statement, if the service still made one, would go to this method.
var _ interface {
	Forget(context.Context, string) error
} = crashBetween{}

// TestFailAndForgetAreOneStatement: a transfer that fails for good (or is done)
// drops its sealed token in the statement that changes its status, in one
// transaction with the audit record, so no crash can leave a failed or done
// transfer holding a token. A failure that a retry of the same fetch may get
// past keeps the token, as "Opnieuw proberen" uses it.
func TestFailAndForgetAreOneStatement(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		faults    transfertest.Faults
		status    transfer.Status
		keepToken bool
	}{
		{"failed for good", transfertest.Faults{AnnounceHash: true, WrongHash: true}, transfer.StatusFailed, false},
		{"done", transfertest.Faults{}, transfer.StatusDone, false},
		{"failed, retry same", transfertest.Faults{AnnounceSize: true, Truncate: true}, transfer.StatusFailed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, func(c *transfer.Config) { c.Store = crashBetween{c.Store.(*transferdb.Store)} })
			tr := e.consent(t)
			e.src.Set(tc.faults)
			tr = e.fetch(t, tr.ID)
			if tr.Status != tc.status {
				t.Fatalf("status %s (%s: %s); want %s", tr.Status, tr.Failure, tr.FailureDetail, tc.status)
			}
			sec, err := e.store.Secrets(ctx, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if kept := sec.TokenSealed != nil; kept != tc.keepToken {
				t.Errorf("a %s transfer holds its sealed token: %v; want %v", tr.Status, kept, tc.keepToken)
			}
			if sec.VerifierSealed != nil || sec.StateHash != nil {
				t.Errorf("a %s transfer holds its verifier or state hash", tr.Status)
			}
		})
	}
}

// TestFailIsOneTransaction: when the audit record of the failure cannot be
// written, nothing of the failure happens: the status, the failure and the
// token are as before (one transaction), and the task may run again.
func TestFailIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	tr := e.consent(t)
	if _, err := e.db.Pool.Exec(ctx, `create function refuse_failed() returns trigger language plpgsql as $$
		begin
			if new.action = 'transfer_failed' then raise exception 'audit log unavailable'; end if;
			return new;
		end $$;
		create trigger refuse_failed before insert on audit_log for each row execute function refuse_failed()`); err != nil {
		t.Fatal(err)
	}
	e.src.Set(transfertest.Faults{AnnounceHash: true, WrongHash: true})
	if err := e.svc.Fetch(ctx, tr.ID, true); err == nil || transfer.AsFailure(err).Reason == transfer.ReasonHashMismatch {
		t.Fatalf("fetch: %v; want the store's error, not the recorded failure", err)
	}
	got := e.get(t, tr.ID)
	if got.Status == transfer.StatusFailed || got.Failure != "" {
		t.Errorf("status %s, failure %q without its audit record", got.Status, got.Failure)
	}
	if sec, err := e.store.Secrets(ctx, tr.ID); err != nil || sec.TokenSealed == nil {
		t.Errorf("the token was dropped (%v) though the failure was not recorded", err)
	}
	for _, r := range e.audit(t, tr.ID) {
		if r[0] == "transfer_failed" {
			t.Errorf("audit record %v written", r)
		}
	}
}
