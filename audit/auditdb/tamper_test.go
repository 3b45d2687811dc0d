package auditdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// seedChain appends n records and signs a checkpoint at the head.
func seedChain(t *testing.T, n int) (*store.DB, *vault.SigningKey, []audit.Record) {
	t.Helper()
	ctx := context.Background()
	db := storetest.DB(t)
	key, err := vault.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, created, err := Checkpoint(ctx, db, key); err != nil || !created { // links them first
		t.Fatalf("Checkpoint = %v, %v", created, err)
	}
	var recs []audit.Record
	if err := Scan(ctx, db.Pool, audit.Filter{}, func(r *audit.Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return db, key, recs
}

// asSuperuser runs SQL with the audit log's triggers disabled, as an attacker with
// database superuser rights would.
func asSuperuser(t *testing.T, db *store.DB, fn func(exec func(sql string, args ...any))) {
	t.Helper()
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("alter table audit_log disable trigger user")
	exec("alter table audit_link disable trigger user")
	fn(exec)
	exec("alter table audit_link enable trigger user")
	exec("alter table audit_log enable trigger user")
}

// rewrite recomputes the MACs and link hashes of recs[from:] (linked, in chain
// order) after edit changed recs[from], stores them and moves the head: a
// consistent chain that only a checkpoint can expose.
func rewrite(exec func(string, ...any), recs []audit.Record, from int, edit func(*audit.Record)) {
	edit(&recs[from])
	for i := from; i < len(recs); i++ {
		prev := recs[i].PrevHash
		if i > 0 {
			prev = recs[i-1].Hash
		}
		reseal(&recs[i], prev)
		storeResealed(exec, &recs[i])
	}
	last := recs[len(recs)-1]
	exec("update audit_chain_head set hash = $1", last.Hash[:])
}

// storeResealed writes r's content seal and link as changed by reseal.
func storeResealed(exec func(string, ...any), r *audit.Record) {
	exec("update audit_log set person_id = $1, mac = $2, mac_key = $3 where seq = $4",
		r.PersonID, r.MAC[:], int64(r.MACKey), r.Seq)
	exec("update audit_link set prev_hash = $1, hash = $2 where seq = $3", r.PrevHash[:], r.Hash[:], r.Seq)
}

// reseal recomputes r's MAC and link hash (after prev) without a key, as an
// attacker without the chain key could.
func reseal(r *audit.Record, prev audit.Hash) {
	_ = r.SealContent(nil)
	_ = r.SealLink(nil, r.Link, prev)
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, db *store.DB, recs []audit.Record, exec func(string, ...any))
		wantSeq int64
		wantID  func(recs []audit.Record) string
		want    string
	}{
		{"untouched", func(*testing.T, *store.DB, []audit.Record, func(string, ...any)) {}, 0, nil, ""},
		{"changed field", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("update audit_log set object_id = 'doc-other' where seq = 4")
		}, 4, func(r []audit.Record) string { return r[3].ID }, "does not match its stored hash"},
		{"deleted record", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("delete from audit_log where seq = 5")
		}, 6, func(r []audit.Record) string { return r[5].ID }, "records 5..5 before it are missing"},
		{"deleted last record", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("delete from audit_log where seq = 10")
		}, 10, nil, "checkpoint"},
		{"swapped records", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("update audit_log set seq = 1000 where seq = 3")
			exec("update audit_log set seq = 3 where seq = 4")
			exec("update audit_log set seq = 4 where seq = 1000")
		}, 5, func(r []audit.Record) string { return r[4].ID }, "records 3..4 before it are missing"}, // a link names its record by seq and recorded: neither link finds its record
		{"swapped links", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("update audit_link set link = 1000 where link = 3")
			exec("update audit_link set link = 3 where link = 4")
			exec("update audit_link set link = 4 where link = 1000")
		}, 4, func(r []audit.Record) string { return r[3].ID }, "does not match its stored link hash"}, // walked in link order; the position is under the link hash
		{"deleted link", func(_ *testing.T, _ *store.DB, _ []audit.Record, exec func(string, ...any)) {
			exec("delete from audit_link where link = 6")
		}, 7, func(r []audit.Record) string { return r[6].ID }, "records 6..6 before it are missing"},
		{"chain rewritten before checkpoint", func(_ *testing.T, _ *store.DB, recs []audit.Record, exec func(string, ...any)) {
			rewrite(exec, recs, 2, func(r *audit.Record) { r.PersonID = "user-someone-else" })
		}, 10, func(r []audit.Record) string { return r[9].ID }, "differs from the checkpoint"},
		{"forged checkpoint", func(t *testing.T, _ *store.DB, recs []audit.Record, exec func(string, ...any)) {
			other, _ := vault.GenerateSigningKey()
			jws, _ := other.Sign([]byte(`{"typ":"pgo-audit-checkpoint","seq":11}`))
			exec("insert into audit_checkpoint (seq, jws) values (11, $1)", jws)
		}, 11, nil, "valid signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, key, recs := seedChain(t, 10)
			asSuperuser(t, db, func(exec func(string, ...any)) { c.tamper(t, db, recs, exec) })
			res, err := New(db, key).Verify(context.Background(), audit.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if res.Break != nil || res.Checked != 10 || res.Checkpoints != 1 {
					t.Fatalf("untouched chain: %+v", res)
				}
				return
			}
			if res.Break == nil {
				t.Fatalf("tampering not found: %+v", res)
			}
			b := res.Break
			t.Log(b)
			if b.Seq != c.wantSeq || !strings.Contains(b.Problem, c.want) || (c.wantID != nil && b.ID != c.wantID(recs)) {
				t.Fatalf("break = %s; want seq %d containing %q", b, c.wantSeq, c.want)
			}
		})
	}
}

func TestVerifyRange(t *testing.T) {
	db, key, recs := seedChain(t, 10)
	s := New(db, key)
	res, err := s.Verify(context.Background(), audit.VerifyOptions{From: recs[4].Recorded, To: recs[8].Recorded})
	if err != nil || res.Break != nil || res.Checked != 4 {
		t.Fatalf("range verify = %+v, %v; want 4 records checked, no break", res, err)
	}
	asSuperuser(t, db, func(exec func(string, ...any)) {
		exec("update audit_log set reason = 'x' where seq = 7")
	})
	res, err = s.Verify(context.Background(), audit.VerifyOptions{From: recs[4].Recorded, To: recs[8].Recorded})
	if err != nil || res.Break == nil || res.Break.Seq != 7 {
		t.Fatalf("range verify after tampering = %+v, %v; want break at 7", res, err)
	}
	// No key but checkpoints exist: a clear configuration error, not a pass.
	if _, err := New(db, nil).Verify(context.Background(), audit.VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "PGO_SIGNING_KEY") {
		t.Fatalf("verify without key = %v", err)
	}
}

func TestPruneDropsOnlyExpiredMonths(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	key, _ := vault.GenerateSigningKey()
	old := []time.Time{
		time.Date(2019, 1, 15, 10, 0, 0, 0, time.UTC),
		time.Date(2019, 2, 15, 10, 0, 0, 0, time.UTC),
	}
	for i, at := range old {
		recordAt(t, db, event(i), at)
		if _, _, err := Checkpoint(ctx, db, key); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := Record(ctx, db, event(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Prune(ctx, db, time.Hour, time.Now(), "test"); err == nil {
		t.Fatal("prune with a retention under 5 years succeeded")
	}
	res, err := Prune(ctx, db, 44568*time.Hour, time.Now(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Dropped, ",") != "audit_log_p201901,audit_log_p201902" || res.Records != 2 || res.KeptFromSeq != 3 {
		t.Fatalf("Prune = %+v", res)
	}
	p, err := Query(ctx, db.Pool, audit.Filter{Actions: []audit.Action{audit.ActAuditPruned}})
	if err != nil || len(p.Records) != 1 || p.Records[0].Details["dropped_records"] != "2" {
		t.Fatalf("prune record: %+v, %v", p, err)
	}
	// Verified at once, with no linker run: Prune links its own record, which
	// verification starts from.
	v, err := New(db, key).Verify(ctx, audit.VerifyOptions{})
	if err != nil || v.Break != nil || v.Checked != 4 {
		t.Fatalf("verify right after prune = %+v, %v; want 4 records, no break", v, err)
	}
	again, err := Prune(ctx, db, 44568*time.Hour, time.Now(), "test")
	if err != nil || len(again.Dropped) != 0 {
		t.Fatalf("second prune = %+v, %v; want nothing dropped", again, err)
	}
	// Dropping a month by hand, without a prune record, is found.
	if _, err := db.Pool.Exec(ctx, "drop table "+partitionName(time.Now())); err != nil {
		t.Fatal(err)
	}
	v, err = New(db, key).Verify(ctx, audit.VerifyOptions{})
	if err != nil || v.Break == nil {
		t.Fatalf("verify after a hand-dropped month = %+v, %v; want a break", v, err)
	}
}

func TestEnsurePartitions(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	created, err := EnsurePartitions(ctx, db, 4)
	if err != nil {
		t.Fatal(err)
	}
	// The migration made this month and the next two; the next call makes months 3 and 4.
	if len(created) != 2 || created[1] != partitionName(time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()+1).AddDate(0, 4, 0)) {
		t.Fatalf("created %v", created)
	}
	if again, err := EnsurePartitions(ctx, db, 4); err != nil || len(again) != 0 {
		t.Fatalf("second run created %v, %v", again, err)
	}
}

// Stored checkpoints can be deleted by a superuser; checkpoints kept outside the
// database (External) still expose the rewrite.
func TestVerifyExternalCheckpoints(t *testing.T) {
	ctx := context.Background()
	db, key, recs := seedChain(t, 10)
	var jws string
	if err := db.Pool.QueryRow(ctx, "select jws from audit_checkpoint").Scan(&jws); err != nil {
		t.Fatal(err)
	}
	asSuperuser(t, db, func(exec func(string, ...any)) {
		exec("alter table audit_checkpoint disable trigger audit_checkpoint_append_only")
		exec("delete from audit_checkpoint")
		exec("alter table audit_checkpoint enable trigger audit_checkpoint_append_only")
		rewrite(exec, recs, 0, func(r *audit.Record) { r.PersonID = "user-rewritten" })
	})
	s := New(db, key)
	res, err := s.Verify(ctx, audit.VerifyOptions{})
	if err != nil || res.Break != nil {
		t.Fatalf("without external checkpoints the rewrite is invisible (expected): %+v %v", res, err)
	}
	res, err = s.Verify(ctx, audit.VerifyOptions{External: []string{jws}})
	if err != nil || res.Break == nil || res.Break.Seq != 10 || !strings.Contains(res.Break.Problem, "differs from the checkpoint") {
		t.Fatalf("with the external checkpoint: %+v %v", res, err)
	}
	other, _ := vault.GenerateSigningKey()
	forged, _ := other.Sign([]byte(`{"typ":"pgo-audit-checkpoint","seq":10}`))
	if _, err := s.Verify(ctx, audit.VerifyOptions{External: []string{forged}}); err == nil || !strings.Contains(err.Error(), "external checkpoint 1") {
		t.Fatalf("forged external checkpoint: %v", err)
	}
}
