package transfer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// The source is down for the whole last attempt: the transfer fails with
// source_unavailable and keeps its token; when the source is up again,
// "Opnieuw proberen" fetches with the same token (no new consent) and completes.
// The same holds for a render that took longer than we wait (endless 202).
func TestRetryAfterPassingFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults transfertest.Faults
		reason transfer.Reason
	}{
		{"source down then up", transfertest.Faults{Down: true}, transfer.ReasonUnavailable},
		{"endless 202 then ready", transfertest.Faults{Accepted: -1}, transfer.ReasonRenderTimeout},
		{"broken connections then whole", transfertest.Faults{BreakAt: 1000, BreakAlways: true}, transfer.ReasonTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			tr := e.consent(t)
			e.src.Set(c.faults)
			tr = e.fetch(t, tr.ID)
			if tr.Status != transfer.StatusFailed || tr.Failure != c.reason || tr.Retry != transfer.RetrySame {
				t.Fatalf("got %s/%s retry %q", tr.Status, tr.Failure, tr.Retry)
			}
			e.src.Set(transfertest.Faults{})
			again, err := e.svc.Retry(context.Background(), e.actor, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if again.ID != tr.ID || again.Status != transfer.StatusAuthorized {
				t.Fatalf("retry gave %s in %s, want the same transfer authorized again", again.ID, again.Status)
			}
			if done := e.fetch(t, tr.ID); done.Status != transfer.StatusDone || e.documents(t, tr.ID) != 1 {
				t.Fatalf("after the retry: %s (%s), %d documents", done.Status, done.FailureDetail, e.documents(t, tr.ID))
			}
			if !bytes.Equal(e.open(t, tr.ID), e.pdf) {
				t.Error("stored bytes differ")
			}
		})
	}
}

// A failure the token cannot survive (expired mid-download, refused consent)
// retries with a new transfer that asks for a new consent; a wrong document
// cannot be retried at all.
func TestRetryNeedsNewConsentOrNothing(t *testing.T) {
	e := newEnv(t, true, nil)
	tr := e.consent(t)
	e.src.Set(transfertest.Faults{ExpireBinary: true})
	tr = e.fetch(t, tr.ID)
	again, err := e.svc.Retry(context.Background(), e.actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == tr.ID || again.Status != transfer.StatusCreated || again.CorrelationID == tr.CorrelationID {
		t.Fatalf("retry after an expired token: %s %s, want a new transfer in created", again.ID, again.Status)
	}

	tr = e.consent(t)
	e.src.Set(transfertest.Faults{AnnounceHash: true, WrongHash: true})
	tr = e.fetch(t, tr.ID)
	if _, err := e.svc.Retry(context.Background(), e.actor, tr.ID); err != transfer.ErrNoRetry {
		t.Fatalf("retry after a hash mismatch: %v, want ErrNoRetry", err)
	}
	other := e.actor
	other.UserID = "00000000-0000-4000-8000-000000000001"
	if _, err := e.svc.Retry(context.Background(), other, tr.ID); err != transfer.ErrNotYours {
		t.Fatalf("retry of another patient's transfer: %v", err)
	}
}

// A connection that breaks once mid-body is resumed with Range + If-Range, and the
// document is complete and verified.
func TestResumeWithRange(t *testing.T) {
	e := newEnv(t, true, nil)
	tr := e.consent(t)
	e.src.Set(transfertest.Faults{BreakAt: 10_000, AnnounceSize: true, AnnounceHash: true, Digest: true})
	e.wantResumed(t, tr.ID, "bytes=10000-", "after the broken connection")
}

// A body that goes silent mid-way (the connection open, nothing more coming) is
// given up after HeaderTimeout without a byte, not after the request's whole
// deadline, and resumed with Range on a new connection: the transfer completes.
func TestResumeAfterSilentBody(t *testing.T) {
	e := newEnv(t, true, func(c *transfer.Config) {
		c.HeaderTimeout = 300 * time.Millisecond
		c.RequestTimeout = 2 * time.Minute
	})
	tr := e.consent(t)
	e.src.Set(transfertest.Faults{BreakAt: 10_000, Stall: true, AnnounceSize: true, AnnounceHash: true})
	e.wantResumed(t, tr.ID, "bytes=10000-", "after the body went silent")
}

// wantResumed fetches transfer id and wants it done, its Binary asked for again
// with rng, and the stored document the source's.
func (e *env) wantResumed(t *testing.T, id, rng, after string) {
	t.Helper()
	start := time.Now()
	tr := e.fetch(t, id)
	if tr.Status != transfer.StatusDone {
		t.Fatalf("status %s (%s) after %s", tr.Status, tr.FailureDetail, time.Since(start).Round(time.Millisecond))
	}
	ranged := false
	for _, s := range e.src.Seen() {
		if strings.Contains(s.Path, "/Binary/") && s.Range == rng {
			ranged = true
		}
	}
	if !ranged {
		t.Errorf("no Range request %s", after)
	}
	if !bytes.Equal(e.open(t, tr.ID), e.pdf) {
		t.Error("resumed document differs")
	}
}

// The fetch is idempotent: run again after done it changes nothing; a passing
// failure before the last attempt leaves the transfer running for the task's
// retry instead of failing it.
func TestFetchIdempotentAndRetriedByTheTask(t *testing.T) {
	e := newEnv(t, true, nil)
	tr := e.consent(t)
	e.src.Set(transfertest.Faults{Down: true})
	err := e.svc.Fetch(context.Background(), tr.ID, false)
	if err == nil || !transfer.IsTransient(err) {
		t.Fatalf("err %v, want a passing failure for the task to retry", err)
	}
	if got := e.get(t, tr.ID); got.Status != transfer.StatusListing {
		t.Fatalf("status %s, want listing (to be retried)", got.Status)
	}
	e.src.Set(transfertest.Faults{})
	if err := e.svc.Fetch(context.Background(), tr.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Fetch(context.Background(), tr.ID, true); err != nil {
		t.Fatal(err)
	}
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusDone || got.Attempts != 2 || e.documents(t, tr.ID) != 1 {
		t.Fatalf("%s after %d attempts, %d documents", got.Status, got.Attempts, e.documents(t, tr.ID))
	}
	if n := len(e.src.Revoked()); n != 1 {
		t.Errorf("revoked %d times", n)
	}
}

// Two runs of one transfer's fetch at once (a task recovered while the first
// still runs) store its document once, and neither fails the transfer.
func TestConcurrentFetchStoresOnce(t *testing.T) {
	e := newEnv(t, true, nil)
	tr := e.consent(t)
	e.src.Set(transfertest.Faults{Trickle: time.Millisecond})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- e.svc.Fetch(context.Background(), tr.ID, true) }()
	}
	<-errs
	<-errs
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusDone || e.documents(t, tr.ID) != 1 {
		t.Fatalf("%s (%s: %s), %d documents", got.Status, got.Failure, got.FailureDetail, e.documents(t, tr.ID))
	}
}
