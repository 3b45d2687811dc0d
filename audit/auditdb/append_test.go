package auditdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

func event(i int) audit.Event {
	return audit.Event{
		Action: audit.ActDocumentFetched, Outcome: audit.Success,
		PersonID: fmt.Sprintf("user-%d", i), ActorType: audit.ActorPeer, ActorID: "pgo-zuid.example",
		Role: audit.RoleSource, ObjectType: "document", ObjectID: fmt.Sprintf("doc-%d", i),
		ObjectHashes: map[string]string{"sha256": "ab12"}, SourceIP: "192.0.2.7",
		UserAgent: "Go-http-client/1.1", RequestID: "req-1", CorrelationID: "corr-1",
		Details: map[string]string{"size": "1234"},
	}
}

func count(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Pool.QueryRow(context.Background(), "select count(*) from audit_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// recordAt appends ev as recorded at at (a record of another month), in a
// transaction of its own.
func recordAt(t testing.TB, db *store.DB, ev audit.Event, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := db.WithTx(ctx, func(tx pgx.Tx) error { _, err := appendAt(ctx, tx, ev, at); return err }); err != nil {
		t.Fatal(err)
	}
}

// linkAll links every committed record, as the running linker would.
func linkAll(t testing.TB, db *store.DB) int {
	t.Helper()
	n, busy, err := Link(context.Background(), db)
	if err != nil || busy {
		t.Fatalf("link: %v (busy %v)", err, busy)
	}
	return n
}

func mustVerify(t *testing.T, s *Store) audit.VerifyResult {
	t.Helper()
	res, err := s.Verify(context.Background(), audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Break != nil {
		t.Fatalf("chain broken: %s", res.Break)
	}
	return res
}

func TestAppendFollowsTheBusinessTransaction(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	errBusiness := errors.New("business rule failed")
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		if err := Append(ctx, tx, event(1)); err != nil {
			return err
		}
		return errBusiness
	})
	if !errors.Is(err, errBusiness) {
		t.Fatalf("WithTx = %v", err)
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("rolled back: %d records, want 0", n)
	}
	if err := db.WithTx(ctx, func(tx pgx.Tx) error { return Append(ctx, tx, event(2)) }); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 1 {
		t.Fatalf("committed: %d records, want 1", n)
	}
	p, err := Query(ctx, db.Pool, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Records[0]
	want := event(2)
	// Visible at once, sealed by its own MAC, not linked yet.
	if r.Linked() || r.Seq != 2 { // seq 1 went to the rolled-back record
		t.Fatalf("before linking: link %d seq %d", r.Link, r.Seq)
	}
	if m, _ := r.ComputeMAC(nil); m != r.MAC {
		t.Fatal("stored MAC does not match the record read back")
	}
	if linkAll(t, db) != 1 {
		t.Fatal("linked not 1 record")
	}
	if p, err = Query(ctx, db.Pool, audit.Filter{}); err != nil {
		t.Fatal(err)
	}
	r = p.Records[0]
	if r.Link != 1 || r.PrevHash != (audit.Hash{}) || r.ObjectID != want.ObjectID || r.Details["size"] != "1234" ||
		r.Time.IsZero() || r.Time.Nanosecond()%1000 != 0 || r.Time.Location() != time.UTC {
		t.Fatalf("stored record = %+v", r)
	}
	if h, _ := r.ComputeLinkHash(nil); h != r.Hash {
		t.Fatal("stored hash does not match the record read back")
	}
	mustVerify(t, New(db, nil))
}

var errRollback = errors.New("rolled back")

func TestAppendConcurrentWritersMakeOneChain(t *testing.T) {
	ctx := context.Background()
	db := openWide(t, 25) // 25 transactions in flight at once, contending for the head
	const writers = 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Every fifth writer rolls its business transaction back after appending.
			err := db.WithTx(ctx, func(tx pgx.Tx) error {
				if err := Append(ctx, tx, event(i)); err != nil {
					return err
				}
				if i%5 == 0 {
					return errRollback
				}
				return nil
			})
			if i%5 == 0 && errors.Is(err, errRollback) {
				err = nil
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	const committed = writers - writers/5
	if res := mustVerify(t, New(db, nil)); res.Checked != 0 || res.Unlinked != committed {
		t.Fatalf("before linking: %d linked, %d unlinked, want 0 and %d", res.Checked, res.Unlinked, committed)
	}
	linkAll(t, db)
	res := mustVerify(t, New(db, nil))
	if res.Checked != committed || res.Unlinked != 0 {
		t.Fatalf("verified %d records (%d unlinked), want %d", res.Checked, res.Unlinked, committed)
	}
	seen := map[string]bool{}
	err := Scan(ctx, db.Pool, audit.Filter{}, func(r *audit.Record) error {
		seen[r.PersonID] = true
		return nil
	})
	if err != nil || len(seen) != committed || seen["user-0"] || seen["user-5"] {
		t.Fatalf("distinct committed writers in the chain = %d (err %v), want %d and none rolled back", len(seen), err, committed)
	}
}

func TestAppendRejectsInvalidEvents(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	mod := func(f func(*audit.Event)) audit.Event { e := event(1); f(&e); return e }
	cases := map[string]audit.Event{
		"unknown action":    mod(func(e *audit.Event) { e.Action = "deleted_everything" }),
		"bad outcome":       mod(func(e *audit.Event) { e.Outcome = "maybe" }),
		"failure no reason": mod(func(e *audit.Event) { e.Outcome = audit.Failure }),
		"success reason":    mod(func(e *audit.Event) { e.Reason = "invalid_grant" }),
		"no actor":          mod(func(e *audit.Event) { e.ActorID = "" }),
		"bad actor type":    mod(func(e *audit.Event) { e.ActorType = "robot" }),
		"bad role":          mod(func(e *audit.Event) { e.Role = "both" }),
		"bad ip":            mod(func(e *audit.Event) { e.SourceIP = "not-an-ip" }),
		"bsn as person":     mod(func(e *audit.Event) { e.PersonID = "999999990" }),
		"control char":      mod(func(e *audit.Event) { e.RequestID = "a\nb" }),
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			err := Record(ctx, db, ev)
			if pgo.ErrorCode(err) != pgo.EINVALID {
				t.Fatalf("Record = %v, want invalid", err)
			}
		})
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("%d records after invalid events, want 0", n)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	if err := Record(ctx, db, event(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "insert into audit_checkpoint (seq, jws) values (1, 'a.b.c')"); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"update audit_log set person_id = 'someone-else'",
		"delete from audit_log",
		"truncate audit_log",
		"truncate " + partitionName(time.Now()),
		"delete from " + partitionName(time.Now()),
		"update audit_checkpoint set jws = 'x'",
		"delete from audit_checkpoint",
		"insert into audit_log select * from audit_log", // a fork: same seq again
	} {
		if _, err := db.Pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: succeeded, want an error", sql)
		}
	}
	if n := count(t, db); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

// A record for a month without a partition creates it on the spot.
func TestAppendCreatesMissingPartition(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	at := time.Date(2031, 5, 10, 12, 0, 0, 0, time.UTC)
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := appendAt(ctx, tx, event(1), at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, "select count(*) from audit_log_p203105").Scan(&n); err != nil || n != 1 {
		t.Fatalf("partition audit_log_p203105: %d records, %v", n, err)
	}
	// Records are linked in commit order, not recorded order: a record recorded
	// before the one linked ahead of it is fine (a long transaction does that).
	if err := Record(ctx, db, event(2)); err != nil {
		t.Fatal(err)
	}
	p, err := Query(ctx, db.Pool, audit.Filter{Limit: 1})
	if err != nil || !p.Records[0].Recorded.Before(at) {
		t.Fatalf("second record recorded at %v, want now (%v)", p.Records[0].Recorded, err)
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != 2 {
		t.Fatalf("checked %d, want 2", res.Checked)
	}
	res, err := New(db, nil).Verify(ctx, audit.VerifyOptions{From: at.AddDate(1, 0, 0)})
	if err != nil || res.Break != nil || res.Checked != 0 {
		t.Fatalf("verify of an empty later period: %+v %v", res, err)
	}
}

// Under SERIALIZABLE appends no longer contend (issue 16: before, a moved head
// made half of 10 writers fail after three attempts): all commit, and the chain
// stays one line holding exactly the committed records.
func TestAppendSerializableNeverForks(t *testing.T) {
	ctx := context.Background()
	db := openWide(t, 10)
	const writers = 10
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results <- db.WithSerializableTx(ctx, func(tx pgx.Tx) error { return Append(ctx, tx, event(i)) })
		}(i)
	}
	wg.Wait()
	close(results)
	var ok int64
	for err := range results {
		switch {
		case err == nil:
			ok++
		case pgo.ErrorCode(err) != pgo.ECONFLICT:
			t.Fatalf("serializable append: %v", err)
		}
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != ok || ok != writers {
		t.Fatalf("%d records in the chain, %d commits", res.Checked, ok)
	}
}

// A BSN a client puts into its User-Agent never reaches the append-only table
// (issue 15, finding 4): the stored row holds the masked text, and the chain
// over it verifies.
func TestAppendMasksBSNInUserAgent(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	ev := event(1)
	ev.UserAgent = "curl/8.0 patient=111222333"
	if err := Record(ctx, db, ev); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := db.Pool.QueryRow(ctx, "select a::text from audit_log a").Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, "111222333") || !strings.Contains(row, "curl/8.0 patient=*********") {
		t.Errorf("stored row: %s", row)
	}
	mustVerify(t, New(db, nil))
}
