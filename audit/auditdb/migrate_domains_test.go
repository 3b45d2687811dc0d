package auditdb

import (
	"context"
	"maps"
	"testing"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Migration 029 moves audit_log's column rules into domains without rewriting
// the log: each partition and each index keeps its files (relfilenode), the
// records written before it keep verifying, the one not linked yet is linked
// after it (and the later migrations), and appending goes on.
func TestMigrationToDomainsRewritesNothing(t *testing.T) {
	ctx := context.Background()
	url := storetest.EmptySchema(t)
	migrateTo(t, url, 28)
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedBulk(t, db, 3)                                // linked
	if err := Record(ctx, db, event(4)); err != nil { // left unlinked
		t.Fatal(err)
	}
	files := func() map[string]int64 {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `select c.relname, c.relfilenode::int8 from pg_class c
			where c.relnamespace = current_schema()::regnamespace and c.relfilenode <> 0
			  and (c.relname like 'audit_log%' or c.relname like 'audit_link%')`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var name string
			var node int64
			if err := rows.Scan(&name, &node); err != nil {
				t.Fatal(err)
			}
			m[name] = node
		}
		return m
	}
	before := files()
	if len(before) < 2*(1+5) { // two months of audit_log (this and the next), each with its five indexes, at least
		t.Fatalf("files before 029: %v", before)
	}

	migrateTo(t, url, 29)
	db.Pool.Reset() // the connections' cached statements name the old column types
	if after := files(); !maps.Equal(before, after) {
		t.Errorf("029 rewrote files:\nbefore %v\n after %v", before, after)
	}
	var domains int
	if err := db.Pool.QueryRow(ctx, `select count(*) from information_schema.columns
		where table_schema = current_schema() and table_name = 'audit_log' and domain_name like 'audit\_%'`).Scan(&domains); err != nil {
		t.Fatal(err)
	}
	if domains != 5 {
		t.Errorf("%d columns of audit_log have an audit domain, want 5", domains)
	}
	s := New(db, nil)
	if res := mustVerify(t, s); res.Checked != 3 || res.Unlinked != 1 {
		t.Fatalf("verify after 029: %+v", res)
	}
	migrateToLatest(t, url)
	db.Pool.Reset()
	if err := Record(ctx, db, event(5)); err != nil {
		t.Fatal(err)
	}
	if n := linkAll(t, db); n != 2 {
		t.Fatalf("linked %d after 029, want 2", n)
	}
	if res := mustVerify(t, s); res.Checked != 5 || res.Unlinked != 0 {
		t.Fatalf("verify after linking: %+v", res)
	}
}
