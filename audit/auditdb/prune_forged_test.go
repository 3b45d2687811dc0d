package auditdb

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// A database owner without the keyset removes records 40..45 (with their links)
// from a chain with a signed checkpoint at 60 and covers the gap with a forged
// audit_pruned record (unkeyed SHA-256 MAC) that says the chain starts at 100,
// after the stored hash at 99: every record before 100 would have only its
// content checked and the checkpoint would be passed over. Verify must report a
// break, whether the forged record is linked into the gap or at the end.
func TestVerifyFindsForgedPruneRecord(t *testing.T) {
	cases := []struct {
		name   string
		keyed  bool
		linkAt int64 // 0: at the end, naming the head as the start
		want   string
	}{
		{"keyed chain, linked into the gap", true, 40, "unkeyed while the chain is keyed"},
		{"keyed chain, linked at the end", true, 0, "unkeyed while the chain is keyed"},
		{"unkeyed chain, linked into the gap", false, 40, "linked at position 40, before the position 100"},
		{"unkeyed chain, linked at the end", false, 0, "cannot be checked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.keyed {
				useTestChainKeys(t)
			}
			ctx := context.Background()
			db, key, _ := seedChain(t, 60) // checkpoint at 60
			for i := 61; i <= 110; i++ {
				if err := Record(ctx, db, event(i)); err != nil {
					t.Fatal(err)
				}
			}
			linkAll(t, db)
			mustVerify(t, New(db, key))
			hashAt := func(link int64) audit.Hash {
				var b []byte
				if err := db.Pool.QueryRow(ctx, `select hash from audit_link where link = $1`, link).Scan(&b); err != nil {
					t.Fatal(err)
				}
				h, _ := audit.HashFromBytes(b)
				return h
			}
			keptFrom, linkAt := int64(100), c.linkAt
			if linkAt == 0 {
				keptFrom, linkAt = 111, 111
			}
			forgePrune(t, db, keptFrom, hashAt(keptFrom-1), linkAt, hashAt(linkAt-1))
			res, err := New(db, key).Verify(ctx, audit.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Break == nil || !strings.Contains(res.Break.Problem, c.want) {
				t.Fatalf("break = %v; want %q (%+v)", res.Break, c.want, res)
			}
			t.Log(res.Break)
		})
	}
}

// forgePrune removes the records at chain positions 40..45 with their links and
// adds an unkeyed audit_pruned record naming keptFrom (after keptPrev), linked
// at linkAt after linkPrev; linked at the end, it becomes the head.
func forgePrune(t *testing.T, db *store.DB, keptFrom int64, keptPrev audit.Hash, linkAt int64, linkPrev audit.Hash) {
	t.Helper()
	ctx := context.Background()
	ev := audit.Event{Action: audit.ActAuditPruned, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: "pgo",
		ObjectType: "audit_log", Details: map[string]string{
			"dropped": "audit_log_p201901", "dropped_records": "6", "retention": "43800h0m0s",
			audit.DetailKeptFromSeq: strconv.FormatInt(keptFrom, 10), audit.DetailKeptFromPrevHash: keptPrev.String(),
		}}
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &audit.Record{Event: ev.Normalize(now), ID: "01a20977-3888-7937-ad5c-54b9cda0850d", Recorded: now}
	_ = r.SealContent(nil) // no keyset: plain SHA-256
	asSuperuser(t, db, func(exec func(string, ...any)) {
		exec(`delete from audit_log a using audit_link l where l.seq = a.seq and l.recorded = a.recorded and l.link between 40 and 45`)
		exec(`delete from audit_link where link between 40 and 45`)
		exec(insertSQL(1), insertArgs(r)...)
		if err := db.Pool.QueryRow(ctx, `select seq from audit_log where id = $1`, r.ID).Scan(&r.Seq); err != nil {
			t.Fatal(err)
		}
		exec(`delete from audit_pending where seq = $1`, r.Seq)
		_ = r.SealLink(nil, linkAt, linkPrev)
		exec(`insert into audit_link (link, seq, recorded, prev_hash, hash) values ($1, $2, $3, $4, $5)`,
			r.Link, r.Seq, r.Recorded, r.PrevHash[:], r.Hash[:])
		if keptFrom == linkAt {
			exec(`update audit_chain_head set seq = $1, hash = $2`, r.Link, r.Hash[:])
		}
	})
}

// Genuine pruning of a keyed chain still verifies, with checkpoints signed at
// dropped records and at a kept record that was linked before a dropped one
// (its transaction committed late at a month's end).
func TestKeyedPruneVerifies(t *testing.T) {
	useTestChainKeys(t)
	ctx := context.Background()
	db := storetest.DB(t)
	key, _ := vault.GenerateSigningKey()
	checkpoint := func() {
		t.Helper()
		if _, _, err := Checkpoint(ctx, db, key); err != nil {
			t.Fatal(err)
		}
	}
	recordAt(t, db, event(1), time.Date(2019, 1, 15, 10, 0, 0, 0, time.UTC))
	checkpoint() // at 1, a dropped record
	// A record of January 2019 whose transaction commits after a kept one:
	// the kept record is linked at 2, the dropped one at 3.
	late, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendAt(ctx, late, event(2), time.Date(2019, 1, 31, 23, 59, 59, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := Record(ctx, db, event(3)); err != nil {
		t.Fatal(err)
	}
	checkpoint() // at 2, the kept record
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkpoint() // at 3, a dropped record
	for i := 4; i <= 6; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Prune(ctx, db, 44568*time.Hour, time.Now(), "test")
	if err != nil || res.Records != 2 || res.KeptFromSeq != 4 {
		t.Fatalf("Prune = %+v, %v", res, err)
	}
	linkAll(t, db) // the prune record
	if v := mustVerify(t, New(db, key)); v.Checked != 5 || v.Checkpoints != 1 {
		t.Fatalf("verify after prune = %+v; want 5 records (one before the start), 1 checkpoint matched", v)
	}
}
