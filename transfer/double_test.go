package transfer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// twice runs f twice at the same moment (a double click, a browser retry).
func twice[T any](f func() (T, error)) ([2]T, [2]error) {
	var got [2]T
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		wg.Go(func() {
			<-start
			got[i], errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	return got, errs
}

// Two callbacks with the same state and code at once: exactly one redeems the
// code (a code is single-use: the second redemption would get invalid_grant),
// and the other leaves the transfer alone and shows it, so the transfer is
// authorized, not failed, and its token still fetches the document.
func TestConcurrentCallbacksRedeemOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	tr, q := e.authorize(t)
	code := e.src.IssueCode(q.Get("code_challenge"))
	// A slow token endpoint: both callbacks are in before the first redemption ends.
	e.src.Set(transfertest.Faults{TokenDelay: 300 * time.Millisecond})
	cb := transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true}
	got, errs := twice(func() (transfer.Transfer, error) { return e.svc.HandleCallback(ctx, e.actor, cb) })
	for i := range got {
		if errs[i] != nil || got[i].ID != tr.ID || got[i].Status == transfer.StatusFailed {
			t.Errorf("callback %d: %s %s (%s: %s), %v; want the transfer, not failed", i, got[i].ID, got[i].Status, got[i].Failure, got[i].FailureDetail, errs[i])
		}
	}
	redeemed := 0
	for _, s := range e.src.Seen() {
		if s.Path == "/oauth/token" {
			redeemed++
		}
	}
	if redeemed != 1 {
		t.Errorf("the code was redeemed %d times; want once", redeemed)
	}
	if cur := e.get(t, tr.ID); cur.Status != transfer.StatusAuthorized {
		t.Fatalf("after both callbacks: %s (%s: %s); want authorized", cur.Status, cur.Failure, cur.FailureDetail)
	}
	// A third one after that (a reload) shows the transfer too and redeems nothing.
	before := len(e.src.Seen())
	again, err := e.svc.HandleCallback(ctx, e.actor, cb)
	if err != nil || again.ID != tr.ID || again.Status != transfer.StatusAuthorized || len(e.src.Seen()) != before {
		t.Errorf("reload: %s %s, %v, %d requests at the source", again.ID, again.Status, err, len(e.src.Seen()))
	}
	e.src.Set(transfertest.Faults{})
	if done := e.fetch(t, tr.ID); done.Status != transfer.StatusDone || e.documents(t, tr.ID) != 1 {
		t.Fatalf("fetch with the token: %s (%s: %s)", done.Status, done.Failure, done.FailureDetail)
	}
}

// Two "Opnieuw proberen" at once start one new transfer between them, and both
// (and any later one) show that transfer; a retry with the same token moves the
// failed transfer back once and starts nothing new.
func TestConcurrentRetriesStartOneTransfer(t *testing.T) {
	ctx := context.Background()
	t.Run("new consent", func(t *testing.T) {
		e := newEnv(t, true, nil)
		tr := e.consent(t)
		e.src.Set(transfertest.Faults{ExpireBinary: true})
		if tr = e.fetch(t, tr.ID); tr.Status != transfer.StatusFailed || tr.Retry != transfer.RetryConsent {
			t.Fatalf("setup: %s, retry %q", tr.Status, tr.Retry)
		}
		got, errs := twice(func() (transfer.Transfer, error) { return e.svc.Retry(ctx, e.actor, tr.ID) })
		for i := range got {
			if errs[i] != nil || got[i].ID == tr.ID || got[i].Status != transfer.StatusCreated {
				t.Fatalf("retry %d: %s %s, %v; want a new transfer in created", i, got[i].ID, got[i].Status, errs[i])
			}
		}
		if got[0].ID != got[1].ID {
			t.Errorf("two retries started %s and %s; want one transfer", got[0].ID, got[1].ID)
		}
		list, err := e.svc.List(ctx, e.actor.UserID)
		if err != nil || len(list) != 2 {
			t.Fatalf("the patient has %d transfers, %v; want the failed one and one retry", len(list), err)
		}
		later, err := e.svc.Retry(ctx, e.actor, tr.ID)
		if err != nil || later.ID != got[0].ID {
			t.Errorf("a later retry: %s, %v; want %s", later.ID, err, got[0].ID)
		}
	})
	t.Run("same token", func(t *testing.T) {
		e := newEnv(t, true, nil)
		tr := e.consent(t)
		e.src.Set(transfertest.Faults{Down: true})
		if tr = e.fetch(t, tr.ID); tr.Status != transfer.StatusFailed || tr.Retry != transfer.RetrySame {
			t.Fatalf("setup: %s, retry %q", tr.Status, tr.Retry)
		}
		got, errs := twice(func() (transfer.Transfer, error) { return e.svc.Retry(ctx, e.actor, tr.ID) })
		for i := range got {
			if errs[i] != nil || got[i].ID != tr.ID || got[i].Status != transfer.StatusAuthorized {
				t.Errorf("retry %d: %s %s, %v; want the same transfer authorized", i, got[i].ID, got[i].Status, errs[i])
			}
		}
		if list, _ := e.svc.List(ctx, e.actor.UserID); len(list) != 1 {
			t.Errorf("the patient has %d transfers; want 1", len(list))
		}
	})
}
