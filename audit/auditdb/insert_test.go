package auditdb

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// The records of one transaction go into audit_log in one INSERT statement
// (statementRecords at most), each with its own seq in the order given, each on
// the linker's work list, and the chain they make verifies.
func TestQueueInsertsATransactionsRecordsInOneStatement(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	for _, n := range []int{1, 2, 3, statementRecords + 3} {
		evs := make([]audit.Event, n)
		for i := range evs {
			evs[i] = event(i)
		}
		b := &pgx.Batch{}
		var q *Queued
		err := db.WithTx(ctx, func(tx pgx.Tx) error {
			var err error
			if q, err = Queue(b, tx.Conn(), evs...); err != nil {
				return err
			}
			res := tx.SendBatch(ctx, b)
			if err := q.Read(res); err != nil {
				res.Close()
				return err
			}
			return res.Close()
		})
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		inserts := 0
		for _, qq := range b.QueuedQueries {
			if strings.Contains(qq.SQL, "insert into audit_log") {
				inserts++
			}
		}
		if want := (n + statementRecords - 1) / statementRecords; inserts != want {
			t.Errorf("%d records: %d insert statements, want %d", n, inserts, want)
		}
		for i, r := range q.records {
			if r.Seq <= 0 || i > 0 && r.Seq <= q.records[i-1].Seq {
				t.Fatalf("%d records: record %d has seq %d after %d", n, i, r.Seq, q.records[max(i-1, 0)].Seq)
			}
			var objectID string
			var pending bool
			if err := db.Pool.QueryRow(ctx, `select object_id, exists (select 1 from audit_pending p where p.seq = a.seq)
				from audit_log a where seq = $1`, r.Seq).Scan(&objectID, &pending); err != nil {
				t.Fatalf("record %d (seq %d): %v", i, r.Seq, err)
			}
			if objectID != evs[i].ObjectID || !pending {
				t.Fatalf("seq %d: object %q (want %q), on the work list %v", r.Seq, objectID, evs[i].ObjectID, pending)
			}
		}
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != 1+2+3+statementRecords+3 || res.Unlinked != 0 {
		t.Fatalf("verify: %d checked, %d unlinked", res.Checked, res.Unlinked)
	}
}

// audit_log keeps only the CHECK constraints an insert can still fail
// (migration 018): PostgreSQL prepares every one of them again for each INSERT
// statement. What the dropped ones said of the link columns is the insert
// trigger's to refuse, for every role: a record must come with its own MAC and
// unlinked.
func TestAuditLogInsertChecks(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	var names []string
	rows, err := db.Pool.Query(ctx, `select conname from pg_constraint
		where conrelid = 'audit_log'::regclass and contype = 'c' order by conname`)
	if err != nil {
		t.Fatal(err)
	}
	if names, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	want := []string{"audit_log_actor_id_check", "audit_log_actor_type_check", "audit_log_mac_check",
		"audit_log_mac_key_check", "audit_log_outcome_check", "audit_log_role_check", "audit_log_seq_check"}
	if !slices.Equal(names, want) {
		t.Errorf("CHECK constraints of audit_log:\n got %v\nwant %v", names, want)
	}

	r, err := seal(event(1), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("00", 32)
	for _, c := range []struct{ name, cols, vals string }{
		{"linked", ", link", ", 1"},
		{"with prev_hash", ", prev_hash", ", decode('" + hash + "', 'hex')"},
		{"with hash", ", hash", ", decode('" + hash + "', 'hex')"},
		{"linked in full", ", link, prev_hash, hash", ", 1, decode('" + hash + "', 'hex'), decode('" + hash + "', 'hex')"},
	} {
		args := insertArgs(r)
		sql := "insert into audit_log (" + recordColumns + c.cols + ") values (" + recordRow(0) + c.vals + ")"
		_, err := db.Pool.Exec(ctx, sql, args...)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23000" || !strings.Contains(pe.Message, "must be appended unlinked") {
			t.Errorf("%s: %v; want refused by the insert trigger", c.name, err)
		}
	}
	args := insertArgs(r)
	args[len(args)-1] = nil // no MAC
	if _, err := db.Pool.Exec(ctx, "insert into audit_log ("+recordColumns+") values ("+recordRow(0)+")", args...); err == nil ||
		!strings.Contains(err.Error(), "must be appended unlinked") {
		t.Errorf("without a MAC: %v; want refused by the insert trigger", err)
	}
	args = insertArgs(r)
	args[len(args)-1] = r.MAC[:16]
	if _, err := db.Pool.Exec(ctx, "insert into audit_log ("+recordColumns+") values ("+recordRow(0)+")", args...); err == nil ||
		!strings.Contains(err.Error(), "audit_log_mac_check") {
		t.Errorf("a 16-byte MAC: %v; want refused by audit_log_mac_check", err)
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("%d records after refused inserts, want 0", n)
	}
}
