package auditdb

import (
	"context"
	"errors"
	"fmt"
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
		var prev int64
		for i, r := range q.records {
			var seq int64
			var objectID string
			var pending bool
			if err := db.Pool.QueryRow(ctx, `select seq, object_id, exists (select 1 from audit_pending p where p.seq = a.seq)
				from audit_log a where id = $1`, r.ID).Scan(&seq, &objectID, &pending); err != nil {
				t.Fatalf("%d records: record %d (%s): %v", n, i, r.ID, err)
			}
			if seq <= prev {
				t.Fatalf("%d records: record %d has seq %d after %d", n, i, seq, prev)
			}
			if objectID != evs[i].ObjectID || !pending {
				t.Fatalf("seq %d: object %q (want %q), on the work list %v", seq, objectID, evs[i].ObjectID, pending)
			}
			prev = seq
		}
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != 1+2+3+statementRecords+3 || res.Unlinked != 0 {
		t.Fatalf("verify: %d checked, %d unlinked", res.Checked, res.Unlinked)
	}
}

// audit_log has no CHECK constraints (migration 029): PostgreSQL prepares a
// table's CHECK constraints again for each INSERT statement. Its column rules
// are domains (prepared once per connection) and, for the two indexed columns,
// the insert trigger's condition. Each rule still refuses a value that breaks
// it, for every role, with check_violation (23514) naming the rule. What the
// constraints dropped by migration 018 said of the link columns is the insert
// trigger's to refuse too: a record must come with its own MAC and unlinked.
func TestAuditLogInsertChecks(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	var n int
	if err := db.Pool.QueryRow(ctx, `select count(*) from pg_constraint
		where conrelid = 'audit_log'::regclass and contype = 'c'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("audit_log has %d CHECK constraints, want none (its rules are domains)", n)
	}
	// Validated, each: a value already stored in a domain column is inserted
	// again without its check (insert ... select outcome from audit_log), so
	// only a constraint every stored value passed keeps the rule whole.
	var valid, all int
	if err := db.Pool.QueryRow(ctx, `select count(*) filter (where c.convalidated), count(*)
		from pg_constraint c join pg_type d on d.oid = c.contypid
		where d.typnamespace = current_schema()::regnamespace and d.typname like 'audit\_%' and c.contype = 'c'`).Scan(&valid, &all); err != nil {
		t.Fatal(err)
	}
	if valid != 5 || all != 5 {
		t.Errorf("audit domains: %d of %d constraints validated, want 5 of 5", valid, all)
	}

	r, err := seal(event(1), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	insertSQL := "insert into audit_log (" + recordColumns + ") values (" + recordRow(0) + ")"
	for _, c := range []struct {
		rule string
		arg  int // index into insertArgs; -1: seq
		bad  any
	}{
		{"audit_log_seq_check", -1, int64(0)},
		{"audit_log_seq_check", -1, int64(-3)},
		{"audit_outcome_check", 4, "maybe"},
		{"audit_actor_type_check", 7, "robot"},
		{"audit_log_actor_id_check", 8, ""},
		{"audit_role_check", 9, "both"},
		{"audit_mac_key_check", 18, int64(1) << 32},
		{"audit_mac_key_check", 18, int64(-1)},
		{"audit_mac_check", 19, r.MAC[:16]},
	} {
		args, sql := insertArgs(r), insertSQL
		if c.arg < 0 {
			sql = strings.Replace(sql, "nextval('audit_log_seq')", fmt.Sprint(c.bad), 1)
		} else {
			args[c.arg] = c.bad
		}
		_, err := db.Pool.Exec(ctx, sql, args...)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != c.rule {
			t.Errorf("%v for %s: %v; want check_violation of %s", c.bad, c.rule, err, c.rule)
		}
	}
	if _, err := db.Pool.Exec(ctx, insertSQL, insertArgs(r)...); err != nil {
		t.Fatalf("the record itself: %v", err)
	}
	if n := count(t, db); n != 1 {
		t.Fatalf("%d records after one good insert and refused ones, want 1", n)
	}
	r, err = seal(event(2), time.Time{})
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
	if n := count(t, db); n != 1 {
		t.Fatalf("%d records after refused inserts, want 1", n)
	}
}
