package auditdb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// chainShape returns the number of linked records, of distinct link positions
// and the highest position.
func chainShape(t *testing.T, db *store.DB) (linked, distinct, top int64) {
	t.Helper()
	err := db.Pool.QueryRow(context.Background(),
		`select count(link), count(distinct link), coalesce(max(link), 0) from audit_link`).Scan(&linked, &distinct, &top)
	if err != nil {
		t.Fatal(err)
	}
	return linked, distinct, top
}

// Two linkers (each with its own pool, as two processes) link while 16 writers
// append: one chain, every record linked exactly once, positions 1..n.
func TestTwoLinkersMakeOneChain(t *testing.T) {
	ctx := context.Background()
	url := storetest.Schema(t)
	var dbs []*store.DB
	for i := 0; i < 3; i++ {
		db, err := store.Open(ctx, url+"&pool_max_conns=20")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		dbs = append(dbs, db)
	}
	const writers, each = 16, 15
	stop := make(chan struct{})
	var linkers sync.WaitGroup
	busy := make([]int, 2)
	for i := 0; i < 2; i++ {
		linkers.Add(1)
		go func(i int) {
			defer linkers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, b, err := Link(ctx, dbs[i])
				if err != nil {
					t.Errorf("linker %d: %v", i, err)
					return
				}
				if b {
					busy[i]++
				}
			}
		}(i)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := Record(ctx, dbs[2], event(w*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	linkers.Wait()
	linkAll(t, dbs[0])
	t.Logf("rounds skipped because the other linker held the head: %v", busy)
	linked, distinct, top := chainShape(t, dbs[0])
	if linked != writers*each || distinct != linked || top != linked {
		t.Fatalf("%d linked, %d distinct positions, top %d; want %d each", linked, distinct, top, writers*each)
	}
	if res := mustVerify(t, New(dbs[0], nil)); res.Checked != writers*each || res.Unlinked != 0 {
		t.Fatalf("verify: %+v", res)
	}
}

// A transaction that appended first but commits last is linked after the
// records that committed before it: the chain is in commit order, seq in
// append order.
func TestLateCommitIsLinkedLater(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	late, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(ctx)
	lr, err := appendAt(ctx, late, event(1), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := linkAll(t, db); n != 2 {
		t.Fatalf("linked %d before the late commit, want 2", n)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := linkAll(t, db); n != 1 {
		t.Fatalf("linked %d after the late commit, want 1", n)
	}
	p, err := Query(ctx, db.Pool, audit.Filter{PersonID: "user-1"})
	if err != nil || len(p.Records) != 1 {
		t.Fatal(p, err)
	}
	r := p.Records[0]
	if r.ID != lr.ID || r.Seq != 1 || r.Link != 3 {
		t.Fatalf("late record: seq %d link %d, want seq 1 link 3", r.Seq, r.Link)
	}
	if res := mustVerify(t, New(db, nil)); res.Checked != 3 {
		t.Fatalf("checked %d", res.Checked)
	}
}

// A change to a record that is not linked yet is found by its own MAC.
func TestVerifyFindsTamperedUnlinkedRecord(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	for i := 1; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	linkAll(t, db)
	if err := Record(ctx, db, event(4)); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.Pool.QueryRow(ctx, "select id::text from audit_record where hash is null").Scan(&id); err != nil {
		t.Fatal(err)
	}
	asSuperuser(t, db, func(exec func(string, ...any)) {
		exec("update audit_log set object_id = 'doc-other' where seq in (select seq from audit_pending)")
	})
	res, err := New(db, nil).Verify(ctx, audit.VerifyOptions{})
	if err != nil || res.Break == nil || res.Break.ID != id || !strings.Contains(res.Break.Problem, "does not match its stored hash") {
		t.Fatalf("verify = %+v, %v; want the unlinked record %s named", res, err, id)
	}
	if res.Checked != 3 || res.Unlinked != 1 {
		t.Fatalf("checked %d, unlinked %d", res.Checked, res.Unlinked)
	}
}

// Deleting a linked record, or a record after it was linked (the newest), is
// found by the chain.
func TestVerifyFindsDeletedLinkedRecords(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, where, want string
	}{
		{"in the middle", "link = 3", "records 3..3 before it are missing"},
		{"the newest, linked after the others", "link = 6", "records at the end were removed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := storetest.DB(t)
			for i := 1; i <= 5; i++ {
				if err := Record(ctx, db, event(i)); err != nil {
					t.Fatal(err)
				}
			}
			linkAll(t, db)
			if err := Record(ctx, db, event(6)); err != nil {
				t.Fatal(err)
			}
			linkAll(t, db)
			asSuperuser(t, db, func(exec func(string, ...any)) {
				exec("delete from audit_log where seq = (select seq from audit_link where " + c.where + ")")
			})
			res, err := New(db, nil).Verify(ctx, audit.VerifyOptions{})
			if err != nil || res.Break == nil || !strings.Contains(res.Break.Problem, c.want) {
				t.Fatalf("verify = %+v, %v; want %q", res, err, c.want)
			}
		})
	}
}

// audit_log and audit_link are insert-only, and a link is accepted only when it
// continues the head exactly and belongs to a record waiting to be linked: for
// the owner and for the application role (which links, so it may insert links).
func TestTriggerAllowsOnlyLinking(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		open func(t *testing.T) *store.DB
	}{{"owner", func(t *testing.T) *store.DB { return storetest.DB(t) }}, {"app role", appRoleDB}} {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			for i := 1; i <= 3; i++ {
				if err := Record(ctx, db, event(i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := linkAll(t, db); n != 3 { // the app role can link
				t.Fatalf("linked %d", n)
			}
			if err := Record(ctx, db, event(4)); err != nil {
				t.Fatal(err)
			}
			var head []byte
			var rec2, rec4 time.Time
			if err := db.Pool.QueryRow(ctx, "select hash from audit_chain_head").Scan(&head); err != nil {
				t.Fatal(err)
			}
			for seq, dst := range map[int]*time.Time{2: &rec2, 4: &rec4} {
				if err := db.Pool.QueryRow(ctx, "select recorded from audit_log where seq = $1", seq).Scan(dst); err != nil {
					t.Fatal(err)
				}
			}
			fake := `'\x` + strings.Repeat("ab", 32) + `'`
			link := func(pos, seq int, prev string) string {
				return fmt.Sprintf("insert into audit_link (link, seq, recorded, prev_hash, hash) values (%d, %d, $1, %s, %s)",
					pos, seq, prev, fake)
			}
			type attack struct {
				sql  string
				args []any
			}
			attacks := []attack{
				{"update audit_log set person_id = 'someone-else' where seq = 4", nil},
				{"update audit_log set link = 4, prev_hash = $1, hash = " + fake + " where seq = 4", []any{head}},
				{"delete from audit_log where seq = 4", nil},
				{"delete from audit_log where seq = 1", nil},
				{"update audit_link set hash = " + fake + " where link = 3", nil},
				{"delete from audit_link where link = 3", nil},
				{"truncate audit_link", nil},
				{link(3, 4, "$2"), []any{rec4, head}},  // a position taken already
				{link(5, 4, "$2"), []any{rec4, head}},  // a gap after the head
				{link(4, 4, fake), []any{rec4}},        // prev_hash not the head's
				{link(4, 2, "$2"), []any{rec2, head}},  // a record linked before, again
				{link(4, 99, "$2"), []any{rec4, head}}, // no such record
			}
			if c.name == "app role" { // the owner may; the links that would follow are refused above
				attacks = append(attacks,
					attack{"delete from audit_pending", nil},        // take records off the list
					attack{"update audit_pending set seq = 2", nil}, // or swap them
					attack{"truncate audit_pending", nil})
			}
			for _, a := range attacks {
				_, err := db.Pool.Exec(ctx, a.sql, a.args...)
				if err == nil {
					t.Errorf("%s: allowed", a.sql)
					continue
				}
				t.Logf("%.60s...: %v", a.sql, err)
			}
			// A link for a record put back on the list after it was linked is
			// refused too (the owner can put it there).
			if c.name == "owner" {
				if _, err := db.Pool.Exec(ctx, "insert into audit_pending values (2, $1)", rec2); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Pool.Exec(ctx, link(4, 2, "$2"), rec2, head); err == nil {
					t.Error("a second link of a linked record was allowed")
				}
				if _, err := db.Pool.Exec(ctx, "delete from audit_pending where seq = 2"); err != nil {
					t.Fatal(err)
				}
			}
			// A correct link by hand (as the linker does) is allowed, moves the
			// head and takes the record off the list.
			if _, err := db.Pool.Exec(ctx, link(4, 4, "$2"), rec4, head); err != nil {
				t.Fatalf("linking after the head: %v", err)
			}
			var top, pending int64
			if err := db.Pool.QueryRow(ctx, "select seq, (select count(*) from audit_pending) from audit_chain_head").Scan(&top, &pending); err != nil || top != 4 || pending != 0 {
				t.Fatalf("head %d, %d pending (%v), want 4 and 0", top, pending, err)
			}
		})
	}
}

// A record left unlinked past UnlinkedBound is a finding (no linker runs); a
// fresh one is not.
func TestVerifyReportsStaleUnlinkedRecords(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	if err := Record(ctx, db, event(1)); err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, New(db, nil))
	if res.Unlinked != 1 || res.OldestUnlinked <= 0 || res.OldestUnlinked > UnlinkedBound {
		t.Fatalf("fresh: %+v", res)
	}
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := appendAt(ctx, tx, event(2), time.Now().Add(-UnlinkedBound-time.Minute))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = New(db, nil).Verify(ctx, audit.VerifyOptions{})
	if err != nil || res.Break == nil || !strings.Contains(res.Break.Problem, "no audit linker is running") ||
		res.Unlinked != 2 || res.OldestUnlinked < UnlinkedBound {
		t.Fatalf("stale: %+v %v", res, err)
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != 2 || res.Unlinked != 0 {
		t.Fatalf("after linking: %+v", res)
	}
}

// The background Linker links what this process appends and stops with its
// context.
func TestLinkerRunLinksAppends(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	db := storetest.DB(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Linker{DB: db, Interval: time.Hour}).Run(ctx) // only nudges wake it
	}()
	for i := 1; i <= 5; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if linked, _, _ := chainShape(t, db); linked == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the linker did not link the appends")
		}
	}
	cancel()
	<-done
}

// Records are linked in commit order, so a kept record can sit before a dropped
// one in the chain (here: a record of now linked before one recorded in 2019).
// Prune starts the chain after the last dropped position; the kept record before
// it has only its own content checked, and the chain verifies.
func TestPruneAfterInterleavedLinks(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	if err := Record(ctx, db, event(1)); err != nil {
		t.Fatal(err)
	}
	linkAll(t, db) // position 1, recorded now
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := appendAt(ctx, tx, event(2), time.Date(2019, 1, 15, 10, 0, 0, 0, time.UTC))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	linkAll(t, db) // position 2, recorded in 2019
	res, err := Prune(ctx, db, 44568*time.Hour, time.Now(), "test")
	if err != nil || res.Records != 1 || res.KeptFromSeq != 3 {
		t.Fatalf("Prune = %+v, %v; want 1 record dropped, chain kept from 3", res, err)
	}
	linkAll(t, db) // the prune record: position 3
	if v := mustVerify(t, New(db, nil)); v.Checked != 2 {
		t.Fatalf("checked %d, want 2", v.Checked)
	}
	// The kept record before the cut is still checked against its own MAC.
	asSuperuser(t, db, func(exec func(string, ...any)) {
		exec("update audit_log set object_id = 'doc-other' where seq = (select seq from audit_link where link = 1)")
	})
	v, err := New(db, nil).Verify(ctx, audit.VerifyOptions{})
	if err != nil || v.Break == nil || !strings.Contains(v.Break.Problem, "does not match its stored hash") {
		t.Fatalf("verify after changing the kept record = %+v, %v", v, err)
	}
}

// A record taken off the linker's work list (only the owner can) would never be
// linked: verify finds it by the counts of the period and names it.
func TestVerifyFindsRecordTakenOffTheWorkList(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	for i := 1; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	linkAll(t, db)
	if err := Record(ctx, db, event(4)); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.Pool.QueryRow(ctx, "select id::text from audit_log where seq = 4").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, New(db, nil)); res.Checked != 3 || res.Unlinked != 1 {
		t.Fatalf("before: %+v", res)
	}
	if _, err := db.Pool.Exec(ctx, "delete from audit_pending where seq = 4"); err != nil {
		t.Fatal(err)
	}
	if n := linkAll(t, db); n != 0 {
		t.Fatalf("linked %d records off the list", n)
	}
	res, err := New(db, nil).Verify(ctx, audit.VerifyOptions{})
	if err != nil || res.Break == nil || res.Break.ID != id || !strings.Contains(res.Break.Problem, "taken off the linker's work list") {
		t.Fatalf("verify = %+v, %v; want record %s named", res, err, id)
	}
	// A period without it verifies.
	if res, err := New(db, nil).Verify(ctx, audit.VerifyOptions{To: time.Now().Add(-time.Hour)}); err != nil || res.Break != nil {
		t.Fatalf("a period before it: %+v, %v", res, err)
	}
}

// A linker round is two round trips: the head lock with the first batch of the
// work list, then the links with the commit; one more per further full batch.
// When another transaction holds the head, it is two as well (read, rollback)
// and links nothing.
func TestLinkRoundTrips(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	round := func(wantN int, wantBusy bool, wantTrips uint64) {
		t.Helper()
		before := db.RoundTrips()
		n, busy, err := Link(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if trips := db.RoundTrips() - before; n != wantN || busy != wantBusy || trips != wantTrips {
			t.Fatalf("Link: %d linked, busy %v, %d round trips; want %d, %v, %d", n, busy, trips, wantN, wantBusy, wantTrips)
		}
	}
	round(0, false, 2) // nothing to link
	for i := 1; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	round(3, false, 2)

	// Another transaction holds the head: nothing linked, the record waits.
	if err := Record(ctx, db, event(4)); err != nil {
		t.Fatal(err)
	}
	holder, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := lockHead(ctx, holder, false); err != nil {
		t.Fatal(err)
	}
	round(0, true, 2)
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	round(1, false, 2)

	// More than one batch: a round trip per further batch, one chain.
	b := &pgx.Batch{}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]audit.Event, linkBatch+1)
	for i := range evs {
		evs[i] = event(10 + i)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Queue(b, tx.Conn(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	res := tx.SendBatch(ctx, b)
	if err := q.Read(res); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Release()
	round(linkBatch+1, false, 3)
	if res := mustVerify(t, New(db, nil)); res.Checked != int64(4+linkBatch+1) || res.Unlinked != 0 {
		t.Fatalf("verify: %d checked, %d unlinked", res.Checked, res.Unlinked)
	}
}
