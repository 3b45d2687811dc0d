package auditdb

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/migrations"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// migrateTo applies the embedded migrations up to version v.
func migrateTo(t *testing.T, url string, v int32) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, v); err != nil {
		t.Fatal(err)
	}
}

// migrateToLatest applies the remaining embedded migrations. A pool opened
// before needs a Reset then: its connections' prepared statements may read
// columns whose type a migration changed (029).
func migrateToLatest(t *testing.T, url string) {
	t.Helper()
	v, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	migrateTo(t, url, v)
}

// A log written before migration 016 (a format 1 record, format 2 records linked
// by an UPDATE of audit_log, one not linked yet, in two months) keeps verifying
// after it: the links are copied to audit_link, the unlinked record is put on
// audit_pending and linked by the new linker after the old chain, and the
// auditor's view shows each record's link.
func TestMigrationMovesLinksOutOfAuditLog(t *testing.T) {
	ctx := context.Background()
	url := storetest.EmptySchema(t)
	migrateTo(t, url, 15)
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	last := time.Now().UTC().AddDate(0, -1, 0).Truncate(time.Microsecond)
	now := time.Now().UTC().Truncate(time.Microsecond)
	cols := `id, seq, recorded, event_time, action, outcome, reason, person_id, actor_type, actor_id, role,
		object_type, object_id, object_hashes, source_ip, user_agent, request_id, correlation_id, details, mac_key`
	row := func(r *audit.Record) []any {
		return []any{r.ID, r.Seq, r.Recorded, r.Time, string(r.Action), string(r.Outcome), r.Reason, r.PersonID,
			string(r.ActorType), r.ActorID, string(r.Role), r.ObjectType, r.ObjectID, r.ObjectHashes, r.SourceIP,
			r.UserAgent, r.RequestID, r.CorrelationID, r.Details, int64(r.MACKey)}
	}
	vals := `$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20`
	// Format 1 (before 014): linked on append, position = seq, no mac.
	exec("select audit_ensure_partition($1)", last)
	exec("select audit_ensure_partition($1)", now)
	f1 := &audit.Record{Event: event(1).Normalize(last), ID: "00000000-0000-7000-8000-000000000001", Seq: 1, Recorded: last}
	if err := f1.Seal(nil); err != nil {
		t.Fatal(err)
	}
	exec("alter table audit_log disable trigger audit_log_link")
	exec("insert into audit_log ("+cols+", prev_hash, hash) values ("+vals+", $21, $22)", append(row(f1), f1.PrevHash[:], f1.Hash[:])...)
	exec("alter table audit_log enable trigger audit_log_link")
	exec("select setval('audit_log_seq', 1)")
	exec("update audit_chain_head set seq = 1, hash = $1, recorded = $2", f1.Hash[:], last)
	// Format 2 as 014 wrote it: appended unlinked with a mac, linked by UPDATE.
	head := f1.Hash
	for i := 2; i <= 4; i++ {
		at := now
		if i == 2 {
			at = last
		}
		r := &audit.Record{Event: event(i).Normalize(at), ID: "00000000-0000-7000-8000-00000000000" + string(rune('0'+i)), Seq: int64(i), Recorded: at}
		if err := r.SealContent(nil); err != nil {
			t.Fatal(err)
		}
		exec("insert into audit_log ("+cols+", mac) values ("+vals+", $21)", append(row(r), r.MAC[:])...)
		if i == 4 {
			continue // left unlinked
		}
		if err := r.SealLink(nil, int64(i), head); err != nil {
			t.Fatal(err)
		}
		exec("update audit_log set link = $1, prev_hash = $2, hash = $3 where seq = $4", r.Link, r.PrevHash[:], r.Hash[:], r.Seq)
		head = r.Hash
	}
	exec("select setval('audit_log_seq', 4)")

	migrateTo(t, url, 16)
	var links, pending int
	if err := db.Pool.QueryRow(ctx, "select (select count(*) from audit_link), (select count(*) from audit_pending)").Scan(&links, &pending); err != nil {
		t.Fatal(err)
	}
	if links != 3 || pending != 1 {
		t.Fatalf("after 016: %d links, %d pending; want 3 and 1", links, pending)
	}
	s := New(db, nil)
	if res := mustVerify(t, s); res.Checked != 3 || res.Unlinked != 1 {
		t.Fatalf("verify after 016: %+v", res)
	}
	migrateToLatest(t, url) // the linker locks the head through migration 030's function
	db.Pool.Reset()
	if n := linkAll(t, db); n != 1 {
		t.Fatalf("linked %d, want the one left", n)
	}
	if err := Record(ctx, db, event(5)); err != nil { // appended the new way
		t.Fatal(err)
	}
	linkAll(t, db)
	if res := mustVerify(t, s); res.Checked != 5 || res.Unlinked != 0 {
		t.Fatalf("verify after linking: %+v", res)
	}
	p, err := Query(ctx, db.Pool, audit.Filter{})
	if err != nil || len(p.Records) != 5 {
		t.Fatalf("query: %d records, %v", len(p.Records), err)
	}
	for _, r := range p.Records { // newest first
		want := r.Seq // positions follow seq here: everything committed in order
		if !r.Format2() {
			want = 0 // a format 1 record has no link of its own
		}
		if r.Link != want || r.Hash == (audit.Hash{}) {
			t.Errorf("seq %d: link %d (want %d), hash %x", r.Seq, r.Link, want, r.Hash[:4])
		}
	}
	// audit_log takes no UPDATE any more, not even the old linking one.
	if _, err := db.Pool.Exec(ctx, "update audit_log set link = 5 where seq = 5"); err == nil {
		t.Fatal("an UPDATE of audit_log was allowed after 016")
	}
}
