package transfer_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// A whole transfer at the target, from the start to done, costs a fixed number
// of PostgreSQL round trips (issue 16: each transition's audit record and its
// notification travel in one batch, a progress update is one statement), and
// every change still notifies the progress pages.
func TestTransferRoundTrips(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	e.src.Set(transfertest.Faults{Mode: "stu3", AnnounceSize: true, AnnounceHash: true, Digest: true})
	listen, err := pgx.Connect(ctx, e.db.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Close(ctx)
	if _, err := listen.Exec(ctx, "listen "+transferdb.Channel); err != nil {
		t.Fatal(err)
	}
	before := e.db.RoundTrips()
	tr := e.consent(t)
	if err := e.svc.Fetch(ctx, tr.ID, true); err != nil {
		t.Fatal(err)
	}
	trips := e.db.RoundTrips() - before
	if tr = e.get(t, tr.ID); tr.Status != transfer.StatusDone {
		t.Fatalf("status %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
	}
	notified := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		n, err := listen.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break
		}
		if n.Payload == tr.ID {
			notified++
		}
	}
	t.Logf("a transfer: %d round trips, %d notifications", trips, notified)
	// created, authorizing, authorized, listing, downloading (+ progress),
	// verifying, stored, done: at least one notification per state.
	if notified < 8 {
		t.Errorf("%d notifications for the transfer; want at least 8", notified)
	}
	// 60 before the audit record and notification shared a batch and the
	// progress update became one statement, 45 before each transition
	// (begin, compare-and-set, outbox row, audit record, notification,
	// commit) became one round trip, 19 before the callback's look-up by
	// state read the transfer and its secrets in one query (issue 16); 18
	// since the callback claims the state (the PKCE verifier) before it
	// redeems the code, so that two callbacks cannot both redeem it; 17
	// since the step to done drops the token itself (no separate Forget).
	const want = 17
	if trips != want {
		t.Errorf("a transfer took %d round trips; want %d", trips, want)
	}
}

// A transition whose compare-and-set is lost (the transfer moved on) writes
// nothing: no state change, no document, no audit record, no outbox row.
func TestLostTransitionWritesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	e.src.Set(transfertest.Faults{Mode: "stu3", AnnounceSize: true, AnnounceHash: true, Digest: true})
	tr := e.consent(t)
	if tr = e.fetch(t, tr.ID); tr.Status != transfer.StatusDone {
		t.Fatalf("status %s", tr.Status)
	}
	count := func() (docs, records, outbox int) {
		t.Helper()
		err := e.db.Pool.QueryRow(ctx, `select (select count(*) from transfer_document where transfer_id = $1),
			(select count(*) from audit_log where object_id = $1::text), (select count(*) from outbox)`, tr.ID).Scan(&docs, &records, &outbox)
		if err != nil {
			t.Fatal(err)
		}
		return docs, records, outbox
	}
	d0, r0, o0 := count()
	ev := audit.Event{Action: audit.ActTransferFailed, Outcome: audit.Failure, Reason: "test",
		ActorType: audit.ActorSystem, ActorID: "test", ObjectType: "transfer", ObjectID: tr.ID}
	doc := transfer.StoredDocument{Document: transfer.Document{ID: uuid.NewString(), TransferID: tr.ID, UserID: tr.UserID,
		RemoteID: "x", Source: tr.Source, Title: "x", ContentType: "application/pdf", Size: 1, SHA256: make([]byte, 32),
		SHA1: make([]byte, 20), Received: time.Now(), Binding: transfer.BindingAccount}, Sealed: []byte{1}}
	for name, lost := range map[string]func() (bool, error){
		"store documents": func() (bool, error) {
			return e.store.StoreDocuments(ctx, tr.ID, "", []transfer.StoredDocument{doc}, ev)
		},
		"authorized": func() (bool, error) {
			return e.store.Authorized(ctx, tr.ID, []transfer.Status{transfer.StatusFailed}, nil, "", time.Time{}, ev)
		},
		"fail": func() (bool, error) {
			return e.store.Fail(ctx, tr.ID, "", nil, transfer.Reason("test"), "", "", true, ev)
		},
		"step": func() (bool, error) {
			return e.store.Step(ctx, tr.ID, "", []transfer.Status{transfer.StatusListing}, transfer.StatusDownloading, ev)
		},
	} {
		won, err := lost()
		if won || err != nil {
			t.Errorf("%s on a done transfer: won %v, %v; want false, nil", name, won, err)
		}
	}
	if d, r, o := count(); d != d0 || r != r0 || o != o0 {
		t.Errorf("after lost transitions: %d documents, %d records, %d outbox rows; want %d, %d, %d", d, r, o, d0, r0, o0)
	}
	if got := e.get(t, tr.ID); got.Status != transfer.StatusDone {
		t.Errorf("status %s; want done", got.Status)
	}
}

// A failure from the status it was read in (failNow): a callback with a wrong
// state that read the session's newest transfer as authorizing cannot fail it
// once the good callback has authorized it in the meantime; the same Fail from
// the status it really is in wins (control).
func TestFailOnlyFromTheStatusRead(t *testing.T) {
	e := newEnv(t, true, nil)
	ctx := context.Background()
	tr := e.consent(t)
	if tr.Status != transfer.StatusAuthorized {
		t.Fatalf("status %s", tr.Status)
	}
	ev := audit.Event{Action: audit.ActTransferFailed, Outcome: audit.Failure, Reason: "state_mismatch",
		ActorType: audit.ActorSystem, ActorID: "test", ObjectType: "transfer", ObjectID: tr.ID}
	won, err := e.store.Fail(ctx, tr.ID, "", []transfer.Status{transfer.StatusAuthorizing}, transfer.ReasonStateMismatch, "", "", true, ev)
	if won || err != nil {
		t.Fatalf("a failure from authorizing on an authorized transfer: won %v, %v", won, err)
	}
	if got := e.get(t, tr.ID); got.Status != transfer.StatusAuthorized {
		t.Fatalf("status %s after the lost failure; want authorized", got.Status)
	}
	if won, err := e.store.Fail(ctx, tr.ID, "", []transfer.Status{transfer.StatusAuthorized}, transfer.ReasonStateMismatch, "", "", true, ev); !won || err != nil {
		t.Fatalf("control: a failure from authorized: won %v, %v", won, err)
	}
}
