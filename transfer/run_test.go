package transfer_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// runs drives fetch runs of transfers in the background, each as its task's
// last attempt, and gates that hold their Binary reads (transfertest.Faults.Gate).
// At the test's end it opens every gate and waits for every run, so that no run
// outlives the source or the database, also when the test failed half-way.
type runs struct {
	e     *env
	open  map[chan struct{}]bool
	ended []chan error
}

func newRuns(t *testing.T, e *env) *runs {
	r := &runs{e: e, open: map[chan struct{}]bool{}}
	t.Cleanup(func() {
		for g := range r.open {
			r.release(g)
		}
		for _, d := range r.ended {
			select {
			case <-d:
			case <-time.After(30 * time.Second):
			}
		}
	})
	return r
}

// gate returns a new closed-later gate.
func (r *runs) gate() chan struct{} {
	g := make(chan struct{})
	r.open[g] = true
	return g
}

// release lets the reads held at g go on (once).
func (r *runs) release(g chan struct{}) {
	if r.open[g] {
		r.open[g] = false
		close(g)
	}
}

// start runs Fetch of id in the background; the channel gets its result, then
// is closed.
func (r *runs) start(id string) chan error {
	d := make(chan error, 1)
	go func() {
		d <- r.e.svc.Fetch(context.Background(), id, true)
		close(d)
	}()
	r.ended = append(r.ended, d)
	return d
}

// startHeld starts a run of id whose Binary reads are held at a new gate, and
// waits until the source has its read (the n-th of the test): the run is then
// in downloading, held. It returns the run's result channel and its gate.
func (r *runs) startHeld(t *testing.T, id string, n int) (chan error, chan struct{}) {
	t.Helper()
	g := r.gate()
	r.e.src.Set(transfertest.Faults{Gate: g})
	d := r.start(id)
	waitBinaryReads(t, r.e, n)
	return d, g
}

// wait returns the result of a run started with start.
func (r *runs) wait(t *testing.T, d chan error, what string) error {
	t.Helper()
	select {
	case err := <-d:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not end", what)
		return nil
	}
}

// completes waits for the run started with start as d and checks that it took
// transfer id to done on its own: after attempts attempts, with one document
// stored and the token revoked once.
func (r *runs) completes(t *testing.T, d chan error, id string, attempts int, what string) {
	t.Helper()
	if err := r.wait(t, d, what); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got, docs := r.e.get(t, id), r.e.documents(t, id)
	if got.Status != transfer.StatusDone || got.Attempts != attempts || docs != 1 {
		t.Fatalf("%s: %s (%s: %s) after %d attempts, %d documents; want done, %d, 1",
			what, got.Status, got.Failure, got.FailureDetail, got.Attempts, docs, attempts)
	}
	if n := len(r.e.src.Revoked()); n != 1 {
		t.Errorf("revoked %d times; want once, by %s", n, what)
	}
}

// heldPair is two runs of one transfer held at their Binary reads: A, the
// older, and B, which claimed the transfer from A.
type heldPair struct {
	a, b         chan error
	gateA, gateB chan struct{}
}

// newHeldPair consents a transfer and starts run A and then run B of it, each
// held at its Binary read: B holds the transfer, A has lost it.
func newHeldPair(t *testing.T) (*env, *runs, transfer.Transfer, heldPair) {
	t.Helper()
	e := newEnv(t, true, nil)
	r := newRuns(t, e)
	tr := e.consent(t)
	var p heldPair
	p.a, p.gateA = r.startHeld(t, tr.ID, 1)
	p.b, p.gateB = r.startHeld(t, tr.ID, 2)
	return e, r, tr, p
}

// stopsQuietly releases the run started as d at gate and checks that it ends
// without an error: it lost the transfer to a newer run and leaves it alone.
func (r *runs) stopsQuietly(t *testing.T, d chan error, gate chan struct{}, what string) {
	t.Helper()
	r.release(gate)
	if err := r.wait(t, d, what); err != nil {
		t.Errorf("%s: %v; want it to stop quietly", what, err)
	}
}

// waitBinaryReads waits until the source has received n Binary reads (a run
// read it is held at its gate, in downloading).
func waitBinaryReads(t *testing.T, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for binaryGETs(e) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Binary reads at the source; want %d", binaryGETs(e), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failures returns the reasons of the transfer's transfer_failed audit records.
func (e *env) failures(t *testing.T, id string) []string {
	t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `select reason from audit_log
		where object_id = $1 and action = $2 order by seq`, id, string(audit.ActTransferFailed))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// steps counts the transfer's audit records of step.
func (e *env) steps(t *testing.T, id string, step transfer.Status) int {
	t.Helper()
	n := 0
	for _, r := range e.audit(t, id) {
		if r[1] == string(step) {
			n++
		}
	}
	return n
}

// The defect of two runs at once: run A stalls mid-download; run B (its task
// recovered) fails with "Opnieuw proberen" on the same token; the patient
// retries and run C downloads; then A wakes up to a failure no retry helps.
// A must not fail C's attempt with its reason, nor revoke the token C uses: it
// lost the transfer when B claimed it, and stops quietly. C then completes.
func TestOldRunDoesNotFailTheNewerAttempt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	r := newRuns(t, e)
	tr := e.consent(t)
	a, gateA := r.startHeld(t, tr.ID, 1)

	e.src.Set(transfertest.Faults{Down: true})
	if got := e.fetch(t, tr.ID); got.Status != transfer.StatusFailed || got.Failure != transfer.ReasonUnavailable || got.Retry != transfer.RetrySame {
		t.Fatalf("run B: %s (%s), retry %q; want failed, %s, same", got.Status, got.Failure, got.Retry, transfer.ReasonUnavailable)
	}
	if again, err := e.svc.Retry(ctx, e.actor, tr.ID); err != nil || again.Status != transfer.StatusAuthorized {
		t.Fatalf("retry: %s, %v; want authorized", again.Status, err)
	}
	c, gateC := r.startHeld(t, tr.ID, 2)

	// A's document comes too large: a failure that would revoke the token.
	e.src.Set(transfertest.Faults{Gate: gateC, Extra: make([]byte, 9<<20)})
	r.stopsQuietly(t, a, gateA, "run A")
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusDownloading || got.Failure != "" {
		t.Fatalf("after run A failed: %s (%s: %s); want run C's attempt downloading", got.Status, got.Failure, got.FailureDetail)
	}
	if reasons := e.failures(t, tr.ID); !slices.Equal(reasons, []string{string(transfer.ReasonUnavailable)}) {
		t.Errorf("transfer_failed records %v; want only run B's %s", reasons, transfer.ReasonUnavailable)
	}
	if n := len(e.src.Revoked()); n != 0 {
		t.Errorf("the token was revoked %d times while run C uses it", n)
	}

	e.src.Set(transfertest.Faults{})
	r.release(gateC)
	r.completes(t, c, tr.ID, 3, "run C")
}

// An old run's steps do not apply once a newer run has claimed the transfer:
// run A is held mid-download, run B claims the transfer and is held too; A then
// gets the whole document, but its step to verifying (and so its store, its
// step to done and its revocation) changes nothing. B completes alone.
func TestOldRunStepsDoNotApply(t *testing.T) {
	e, r, tr, p := newHeldPair(t)
	a, gateA, b, gateB := p.a, p.gateA, p.b, p.gateB

	r.stopsQuietly(t, a, gateA, "run A")
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusDownloading || e.documents(t, tr.ID) != 0 {
		t.Fatalf("after run A: %s, %d documents; want run B's downloading, none stored", got.Status, e.documents(t, tr.ID))
	}
	if n := e.steps(t, tr.ID, transfer.StatusVerifying); n != 0 {
		t.Errorf("%d steps to verifying recorded while run B downloads; want none", n)
	}
	if n := len(e.src.Revoked()); n != 0 {
		t.Errorf("the token was revoked %d times while run B uses it", n)
	}

	r.release(gateB)
	r.completes(t, b, tr.ID, 2, "run B")
	for _, step := range []transfer.Status{transfer.StatusVerifying, transfer.StatusStored, transfer.StatusDone} {
		if n := e.steps(t, tr.ID, step); n != 1 {
			t.Errorf("%d records of step %s; want 1, run B's", n, step)
		}
	}
}

// An old run's progress does not apply once a newer run has claimed the
// transfer: run A is held mid-download, run B claims the transfer (nothing
// received yet) and is held too; A then receives the whole document and
// writes its bytes, but the progress shown stays B's. B's own progress still
// applies (the control): it completes with the document's bytes shown.
func TestOldRunProgressDoesNotApply(t *testing.T) {
	e, r, tr, p := newHeldPair(t)
	a, gateA, b, gateB := p.a, p.gateA, p.b, p.gateB
	held := e.get(t, tr.ID)
	if held.Status != transfer.StatusDownloading || held.BytesDone != 0 {
		t.Fatalf("run B held: %s, %d bytes done; want downloading, 0", held.Status, held.BytesDone)
	}

	r.stopsQuietly(t, a, gateA, "run A")
	if got := e.get(t, tr.ID); got.BytesDone != held.BytesDone || got.BytesTotal != held.BytesTotal || got.DocsTotal != held.DocsTotal {
		t.Errorf("after run A: %d of %d bytes, %d documents; want run B's %d of %d, %d",
			got.BytesDone, got.BytesTotal, got.DocsTotal, held.BytesDone, held.BytesTotal, held.DocsTotal)
	}

	r.release(gateB)
	r.completes(t, b, tr.ID, 2, "run B")
	if got := e.get(t, tr.ID); got.BytesDone != int64(len(e.pdf)) {
		t.Errorf("run B done with %d bytes shown; want its %d", got.BytesDone, len(e.pdf))
	}
}

// runRecords returns (action, step, run) of the transfer's audit records, in
// order; run is the run the record names (details run), or empty.
func (e *env) runRecords(t *testing.T, id string) [][3]string {
	t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `select action, coalesce(details->>'step', ''),
		coalesce(details->>'run', '') from audit_log where object_id = $1 order by seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([3]string, error) {
		var r [3]string
		return r, row.Scan(&r[0], &r[1], &r[2])
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every audit record a fetch run writes names the run, so that an auditor
// tells two attempts' interleaved records apart: run A is held mid-download,
// run B claims the transfer and is held too, A stops at its lost step to
// verifying, and B completes. A's records (listing, downloading) name A, B's
// (listing to done) name B, the run the transfer ends with; the records
// written outside a run (start, authorize, callback) name none. A run's
// failure names it too; GiveUp's, no run's, names none.
func TestRunRecordsNameTheRun(t *testing.T) {
	ctx := context.Background()
	e, r, tr, p := newHeldPair(t)
	a, gateA, b, gateB := p.a, p.gateA, p.b, p.gateB
	r.stopsQuietly(t, a, gateA, "run A")
	r.release(gateB)
	r.completes(t, b, tr.ID, 2, "run B")

	var runB string
	if err := e.db.Pool.QueryRow(ctx, `select run::text from transfer where id = $1`, tr.ID).Scan(&runB); err != nil {
		t.Fatal(err)
	}
	// Name the runs A and B in the order they first appear.
	label := map[string]string{"": "-", runB: "B"}
	var got []string
	for _, rec := range e.runRecords(t, tr.ID) {
		if _, ok := label[rec[2]]; !ok {
			if _, err := uuid.Parse(rec[2]); err != nil {
				t.Fatalf("%s %s names run %q, not a run id", rec[0], rec[1], rec[2])
			}
			label[rec[2]] = "A"
		}
		got = append(got, rec[0]+" "+rec[1]+" "+label[rec[2]])
	}
	want := []string{
		"transfer_started created -", "transfer_started authorizing -", "code_redeemed authorized -",
		"document_listed listing A", "document_listed downloading A",
		"document_listed listing B", "document_listed downloading B", "document_fetched verifying B",
		"document_fetched stored B", "transfer_completed done B",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records (action, step, run):\n%q\nwant\n%q", got, want)
	}

	// A run's failure (the source is down, the last attempt) names the run
	// that listed; GiveUp's names none.
	for _, giveUp := range []bool{false, true} {
		tr := e.consent(t)
		if giveUp {
			if err := e.svc.GiveUp(ctx, tr.ID); err != nil {
				t.Fatal(err)
			}
		} else {
			e.src.Set(transfertest.Faults{Down: true})
			if got := e.fetch(t, tr.ID); got.Status != transfer.StatusFailed {
				t.Fatalf("fetch with the source down: %s; want failed", got.Status)
			}
		}
		recs := e.runRecords(t, tr.ID)
		last := recs[len(recs)-1]
		want := "" // GiveUp
		if !giveUp {
			want = recs[len(recs)-2][2] // the step into listing
			if want == "" {
				t.Errorf("the step into listing names no run: %q", recs)
			}
		}
		if last[0] != string(audit.ActTransferFailed) || last[2] != want {
			t.Errorf("give up %v: last record %q; want transfer_failed naming run %q", giveUp, last, want)
		}
	}
}
