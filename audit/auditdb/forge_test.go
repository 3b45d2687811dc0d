package auditdb

import (
	"context"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// forgedRecordSQL writes, as the application role without the keyset, a
// record with a made-up MAC that is not on the linker's work list.
const forgedRecordSQL = `insert into audit_log (id, seq, recorded, event_time, action, outcome, person_id,
	actor_type, actor_id, object_type, object_id, mac_key, mac)
	select gen_random_uuid(), nextval('audit_log_seq'), now(), now(), 'document_fetched', 'success', 'user-1',
	'peer', 'evil-pgo.example', 'document', 'doc-1', mac_key, decode(md5('a') || md5('b'), 'hex')
	from audit_log limit 1 returning seq`

// orphanPendingSQL puts an entry for a seq without a record on the work list.
const orphanPendingSQL = `insert into audit_pending (seq, recorded) values (nextval('audit_log_seq'), now()) returning seq`

// keyedAppRoleLog is a keyed, linked, verified log of three records written as
// the application role.
func keyedAppRoleLog(t *testing.T) *store.DB {
	t.Helper()
	useTestChainKeys(t)
	db := appRoleDB(t)
	for i := 1; i <= 3; i++ {
		if err := Record(context.Background(), db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	linkAll(t, db)
	mustVerify(t, New(db, nil))
	return db
}

func verifyBreak(t *testing.T, db *store.DB) *audit.Break {
	t.Helper()
	res, err := New(db, nil).Verify(context.Background(), audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Break
}

// Review finding 1: the application role, without the keyset, writes a record
// with a made-up MAC that is not on the work list (so never linked and never
// checked as pending), and an entry on the work list for a seq without a
// record, so that the counts of records, links and entries cancel out. Verify
// still finds the forged record, and reports the entry without a record.
func TestVerifyFindsAForgedRecordHiddenByAnEntryWithoutRecord(t *testing.T) {
	ctx := context.Background()
	db := keyedAppRoleLog(t)
	var forged int64
	if err := db.Pool.QueryRow(ctx, forgedRecordSQL).Scan(&forged); err != nil {
		t.Fatal(err)
	}
	linkAll(t, db)
	if b := verifyBreak(t, db); b == nil || b.Seq != forged {
		t.Fatalf("forged record off the work list: break %v, want at seq %d", b, forged)
	}
	var orphan int64
	if err := db.Pool.QueryRow(ctx, orphanPendingSQL).Scan(&orphan); err != nil {
		t.Fatal(err)
	}
	linkAll(t, db)
	b := verifyBreak(t, db)
	if b == nil || b.Seq != forged || !strings.Contains(b.Problem, "neither linked") || !strings.Contains(b.Problem, "does not match") {
		t.Fatalf("forged record with an entry without record beside it: break %v, want the forged record at seq %d", b, forged)
	}
	t.Logf("found: %s", b)
	page, err := New(db, nil).Query(ctx, audit.Filter{PersonID: "user-1"})
	if err != nil || len(page.Records) != 2 {
		t.Fatalf("the forged record is in the log (%v): %d records of user-1, want the real one and it", err, len(page.Records))
	}
}

// An entry on the work list without a record is a finding by itself, and the
// linker passes over it: a batch of such entries (more than the linker reads
// at once) ahead of real records must not stop linking.
func TestEntriesWithoutRecordAreReportedAndSkipped(t *testing.T) {
	ctx := context.Background()
	db := keyedAppRoleLog(t)
	var orphan int64
	if err := db.Pool.QueryRow(ctx, `with x as (insert into audit_pending (seq, recorded)
		select nextval('audit_log_seq'), now() from generate_series(1, $1) returning seq) select min(seq) from x`,
		linkBatch+10).Scan(&orphan); err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, db, event(4)); err != nil {
		t.Fatal(err)
	}
	if n := linkAll(t, db); n != 1 {
		t.Fatalf("linked %d records behind %d entries without record, want 1", n, linkBatch+10)
	}
	b := verifyBreak(t, db)
	if b == nil || b.Seq != orphan || b.ID != "" || !strings.Contains(b.Problem, "audit_pending") {
		t.Fatalf("break %v, want the entry without record at seq %d", b, orphan)
	}
	t.Logf("found: %s", b)
}

// Review finding 2: the application role copies a record's row whole (id,
// content, key id and MAC) under a new seq and puts it on the work list; the
// linker links the copy like any record. Verify reports the duplicated id at
// the copy's seq.
func TestVerifyFindsACopiedRecord(t *testing.T) {
	ctx := context.Background()
	db := keyedAppRoleLog(t)
	var id string
	var orig, copied int64
	err := db.Pool.QueryRow(ctx, `with r as (insert into audit_log (seq, `+strings.ReplaceAll(recordColumnsNoSeq, "\n", " ")+`)
			select nextval('audit_log_seq'), `+recordColumnsNoSeq+` from audit_log where person_id = 'user-2'
			returning id, seq, recorded),
		p as (insert into audit_pending (seq, recorded) select seq, recorded from r)
		select r.id::text, a.seq, r.seq from r join audit_log a on a.id = r.id and a.seq <> r.seq`).Scan(&id, &orig, &copied)
	if err != nil {
		t.Fatal(err)
	}
	if n := linkAll(t, db); n != 1 {
		t.Fatalf("linked %d, want the copy", n)
	}
	var links int
	if err := db.Pool.QueryRow(ctx, `select count(*) from audit_link where seq in ($1, $2)`, orig, copied).Scan(&links); err != nil || links != 2 {
		t.Fatalf("%d links of the record and its copy (%v), want 2", links, err)
	}
	b := verifyBreak(t, db)
	if b == nil || b.ID != id || b.Seq != copied || !strings.Contains(b.Problem, "copied") {
		t.Fatalf("copied record: break %v, want record %s at seq %d (original at %d)", b, id, copied, orig)
	}
	t.Logf("found: %s", b)
}

// recordColumnsNoSeq are audit_log's record columns except seq.
var recordColumnsNoSeq = strings.Replace(recordColumns, " seq,", "", 1)
