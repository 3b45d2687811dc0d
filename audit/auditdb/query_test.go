package auditdb

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
)

func TestQueryFiltersAndKeysetPages(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	for i := 0; i < 25; i++ {
		ev := event(i % 5) // persons user-0..user-4
		ev.CorrelationID = fmt.Sprintf("corr-%d", i%2)
		if i%3 == 0 {
			ev.Action, ev.ActorType, ev.ActorID = audit.ActLogin, audit.ActorUser, "user-x"
		}
		if err := Record(ctx, db, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Walk all pages of 10: newest first, no record twice, nothing lost.
	var seen []int64
	f := audit.Filter{Limit: 10}
	for pages := 0; ; pages++ {
		p, err := Query(ctx, db.Pool, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen = append(seen, r.Seq)
		}
		if p.Next == "" {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		f.Cursor = p.Next
	}
	for i, s := range seen {
		if s != int64(25-i) {
			t.Fatalf("page order: %v", seen)
		}
	}
	mid := seen[12]
	var midTime time.Time
	if err := db.Pool.QueryRow(ctx, "select recorded from audit_log where seq = $1", mid).Scan(&midTime); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"action", audit.Filter{Actions: []audit.Action{audit.ActLogin}}, 9},
		{"two actions", audit.Filter{Actions: []audit.Action{audit.ActLogin, audit.ActDocumentFetched}}, 25},
		{"person", audit.Filter{PersonID: "user-1"}, 5},
		{"peer", audit.Filter{ActorID: "pgo-zuid.example", ActorType: audit.ActorPeer}, 16},
		{"correlation", audit.Filter{CorrelationID: "corr-1"}, 12},
		{"period from", audit.Filter{From: midTime}, int(mid)},
		{"period to", audit.Filter{To: midTime}, int(mid) - 1},
		{"combined", audit.Filter{PersonID: "user-0", Actions: []audit.Action{audit.ActLogin}}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.f.Limit = 500
			p, err := Query(ctx, db.Pool, c.f)
			if err != nil || len(p.Records) != c.want || p.Next != "" {
				t.Fatalf("got %d records (next %q, err %v), want %d", len(p.Records), p.Next, err, c.want)
			}
		})
	}
	bad := map[string]audit.Filter{
		"cursor":  {Cursor: "abc"},
		"cursor0": {Cursor: "0"},
		"action":  {Actions: []audit.Action{"nope"}},
		"period":  {From: midTime, To: midTime},
	}
	for name, f := range bad {
		if _, err := Query(ctx, db.Pool, f); pgo.ErrorCode(err) != pgo.EINVALID {
			t.Errorf("%s: Query = %v, want invalid", name, err)
		}
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	key, _ := vault.GenerateSigningKey()
	s := New(db, key)
	st, err := s.Status(ctx)
	if err != nil || st.HeadSeq != 0 || st.LastCheckpoint != nil {
		t.Fatalf("empty status = %+v, %v", st, err)
	}
	if _, _, err := Checkpoint(ctx, db, key); pgo.ErrorCode(err) != pgo.ECONFLICT {
		t.Fatalf("checkpoint of an empty log = %v, want conflict", err)
	}
	for i := 0; i < 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, created, err := Checkpoint(ctx, db, key)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again, created, err := Checkpoint(ctx, db, key)
	if err != nil || created || again.JWS != cp.JWS {
		t.Fatalf("second checkpoint at the same head: created %v, %v", created, err)
	}
	st, err = s.Status(ctx)
	if err != nil || st.HeadSeq != 3 || st.LastCheckpoint == nil || st.LastCheckpoint.Seq != 3 ||
		st.LastCheckpoint.Hash != st.HeadHash || !st.CheckpointVerified {
		t.Fatalf("status = %+v, %v", st, err)
	}
	other, _ := vault.GenerateSigningKey()
	for name, keys := range map[string]audit.SignatureVerifier{"other key": other, "no key": nil} {
		st, err := New(db, keys).Status(ctx)
		if err != nil || st.CheckpointVerified || st.LastCheckpoint == nil || st.LastCheckpoint.Seq != 3 {
			t.Fatalf("%s: status = %+v, %v; want the checkpoint shown unverified", name, st, err)
		}
	}
}

func TestMaintain(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	key, _ := vault.GenerateSigningKey()
	var sunk bytes.Buffer
	m := &Maintenance{DB: db, Signer: key, Sink: audit.NewLineSink(&sunk)}
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Maintain on an empty log: %v", err)
	}
	if err := Record(ctx, db, event(1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := m.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The one checkpoint went to the sink once, as a JWS line.
	if lines := strings.Split(strings.TrimSpace(sunk.String()), "\n"); len(lines) != 1 || strings.Count(lines[0], ".") != 2 {
		t.Fatalf("sink holds %q; want one checkpoint line", sunk.String())
	}
	var cps, parts int
	if err := db.Pool.QueryRow(ctx, "select count(*) from audit_checkpoint").Scan(&cps); err != nil || cps != 1 {
		t.Fatalf("%d checkpoints (%v), want 1", cps, err)
	}
	err := db.Pool.QueryRow(ctx, "select count(*) from pg_inherits where inhparent = 'audit_log'::regclass").Scan(&parts)
	if err != nil || parts != PartitionsAhead+1 {
		t.Fatalf("%d partitions (%v), want %d", parts, err, PartitionsAhead+1)
	}
}
