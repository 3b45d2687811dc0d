package transfer_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// Each change of a fetch run is a compare-and-set on the run as well as the
// status: once a newer run has claimed the transfer, the old run's step, store,
// step to done and failure lose and write nothing, from the very status the
// newer run is in (the newer run's same change wins: the control). A transfer
// that "Opnieuw proberen" moved back to authorized belongs to no run, so an
// old run cannot fail it before the next fetch claims it either.
func TestRunOwnsItsChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	ev := func(id string) audit.Event {
		return audit.Event{Action: audit.ActDocumentListed, Outcome: audit.Success,
			ActorType: audit.ActorSystem, ActorID: "test", ObjectType: "transfer", ObjectID: id}
	}
	records := func(id string) int {
		t.Helper()
		var n int
		if err := e.db.Pool.QueryRow(ctx, `select count(*) from audit_log where object_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(id string) string {
		t.Helper()
		var r *string
		if err := e.db.Pool.QueryRow(ctx, `select run::text from transfer where id = $1`, id).Scan(&r); err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return ""
		}
		return *r
	}
	// change applies one change as run and wants it won or lost; a lost one
	// writes no audit record and leaves the status.
	change := func(name, id string, want bool, f func() (bool, error)) {
		t.Helper()
		before, status := records(id), e.get(t, id).Status
		won, err := f()
		if err != nil || won != want {
			t.Fatalf("%s: won %v, %v; want %v", name, won, err, want)
		}
		if !want && (records(id) != before || e.get(t, id).Status != status) {
			t.Fatalf("%s lost but wrote: %d records (was %d), status %s (was %s)", name, records(id), before, e.get(t, id).Status, status)
		}
	}
	claim := func(id, r string) {
		t.Helper()
		change("claim", id, true, func() (bool, error) {
			return e.store.Step(ctx, id, r, []transfer.Status{transfer.StatusAuthorized, transfer.StatusListing,
				transfer.StatusDownloading, transfer.StatusVerifying}, transfer.StatusListing, ev(id))
		})
		if got := run(id); got != r {
			t.Fatalf("after the claim the run is %q; want %q", got, r)
		}
	}
	step := func(id, r string, from, to transfer.Status) func() (bool, error) {
		return func() (bool, error) { return e.store.Step(ctx, id, r, []transfer.Status{from}, to, ev(id)) }
	}
	fail := func(id, r string) func() (bool, error) {
		return func() (bool, error) {
			return e.store.Fail(ctx, id, r, nil, transfer.ReasonTooLarge, "test", transfer.RetryNone, true, ev(id))
		}
	}

	tr := e.consent(t)
	old, newer := uuid.NewString(), uuid.NewString()
	claim(tr.ID, old)
	change("the old run's step to downloading", tr.ID, true, step(tr.ID, old, transfer.StatusListing, transfer.StatusDownloading))
	claim(tr.ID, newer)
	for _, s := range [][2]transfer.Status{{transfer.StatusListing, transfer.StatusDownloading}, {transfer.StatusDownloading, transfer.StatusVerifying}} {
		change("the old run's step to "+string(s[1]), tr.ID, false, step(tr.ID, old, s[0], s[1]))
		change("the old run's failure in "+string(s[0]), tr.ID, false, fail(tr.ID, old))
		change("the newer run's step to "+string(s[1]), tr.ID, true, step(tr.ID, newer, s[0], s[1]))
	}
	doc := transfer.StoredDocument{Document: transfer.Document{ID: uuid.NewString(), TransferID: tr.ID, UserID: tr.UserID,
		RemoteID: "x", Source: tr.Source, Title: "x", ContentType: "application/pdf", Size: 1, SHA256: make([]byte, 32),
		SHA1: make([]byte, 20), CorrelationID: tr.CorrelationID, Received: time.Now(), Binding: transfer.BindingAccount}, Sealed: []byte{1}}
	store := func(r string) func() (bool, error) {
		return func() (bool, error) {
			d := doc
			d.ID = uuid.NewString()
			return e.store.StoreDocuments(ctx, tr.ID, r, []transfer.StoredDocument{d}, ev(tr.ID))
		}
	}
	change("the old run's store", tr.ID, false, store(old))
	change("the old run's failure in verifying", tr.ID, false, fail(tr.ID, old))
	if n := e.documents(t, tr.ID); n != 0 {
		t.Fatalf("the old run's lost store left %d documents", n)
	}
	change("the newer run's store", tr.ID, true, store(newer))
	change("the old run's step to done", tr.ID, false, step(tr.ID, old, transfer.StatusStored, transfer.StatusDone))
	change("the newer run's step to done", tr.ID, true, step(tr.ID, newer, transfer.StatusStored, transfer.StatusDone))
	if n := e.documents(t, tr.ID); n != 1 {
		t.Fatalf("%d documents; want the newer run's one", n)
	}

	// GiveUp fails a transfer whatever run holds it; "Opnieuw proberen" then
	// moves it to authorized with no run, so the old run (still going) loses.
	tr = e.consent(t)
	claim(tr.ID, old)
	change("GiveUp's failure", tr.ID, true, func() (bool, error) {
		return e.store.Fail(ctx, tr.ID, "", nil, transfer.ReasonInternal, "gave up", transfer.RetrySame, false, ev(tr.ID))
	})
	change("the retry", tr.ID, true, func() (bool, error) {
		return e.store.Authorized(ctx, tr.ID, []transfer.Status{transfer.StatusFailed}, nil, "", time.Time{}, ev(tr.ID))
	})
	if got := run(tr.ID); got != "" {
		t.Fatalf("after the retry the run is %q; want none", got)
	}
	change("the old run's failure in authorized", tr.ID, false, fail(tr.ID, old))
	claim(tr.ID, newer)
	change("the old run's failure after the newer claim", tr.ID, false, fail(tr.ID, old))
	change("the newer run's failure", tr.ID, true, fail(tr.ID, newer))
}

// Progress applies only while the transfer is downloading and the run's: once
// a newer run has claimed it, the old run's bytes change nothing (the newer
// run's do: the control), nor do a write with no run or one after the
// download.
func TestProgressIsTheRuns(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	ev := func() audit.Event {
		return audit.Event{Action: audit.ActDocumentListed, Outcome: audit.Success,
			ActorType: audit.ActorSystem, ActorID: "test", ObjectType: "transfer", ObjectID: "x"}
	}
	tr := e.consent(t)
	step := func(run string, from, to transfer.Status) {
		t.Helper()
		if won, err := e.store.Step(ctx, tr.ID, run, []transfer.Status{from}, to, ev()); !won || err != nil {
			t.Fatalf("step to %s: won %v, %v", to, won, err)
		}
	}
	progress := func(name, run string, bytes, want int64) {
		t.Helper()
		if err := e.store.Progress(ctx, tr.ID, run, 1, bytes, 1000); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := e.get(t, tr.ID).BytesDone; got != want {
			t.Fatalf("%s: %d bytes done; want %d", name, got, want)
		}
	}
	old, newer := uuid.NewString(), uuid.NewString()
	step(old, transfer.StatusAuthorized, transfer.StatusListing)
	step(old, transfer.StatusListing, transfer.StatusDownloading)
	progress("the old run's progress while it holds the transfer", old, 100, 100)
	step(newer, transfer.StatusDownloading, transfer.StatusListing)
	step(newer, transfer.StatusListing, transfer.StatusDownloading)
	progress("the old run's progress after the newer claim", old, 500, 0)
	progress("progress with no run", "", 600, 0)
	progress("the newer run's progress", newer, 200, 200)
	step(newer, transfer.StatusDownloading, transfer.StatusVerifying)
	progress("the newer run's progress in verifying", newer, 300, 200)
}
