package auditdb

import (
	"context"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Counters the code itself writes into Details (here the first kept seq of a
// prune) are numbers, not BSNs, even when they are nine digits that happen to pass
// the elfproef (about one in eleven of 100,000,000-999,999,999). A long-running
// instance reaches such sequence numbers; refusing the record would block every
// prune (and so retention) for good.
func TestPruneWhenTheKeptSeqLooksLikeABSN(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	recordAt(t, db, event(1), time.Date(2019, 1, 15, 10, 0, 0, 0, time.UTC))
	// Jump the head as if 123 million records had been written before it.
	if _, err := db.Pool.Exec(ctx, `update audit_chain_head set seq = 123456780`); err != nil {
		t.Fatal(err)
	}
	linkAll(t, db)                                    // at 123456781
	if err := Record(ctx, db, event(2)); err != nil { // seq 123456782: passes the elfproef
		t.Fatal(err)
	}
	if !audit.LooksLikeBSN("123456782") {
		t.Fatal("test premise: 123456782 should pass the elfproef")
	}
	res, err := Prune(ctx, db, 44568*time.Hour, time.Now(), "test")
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if res.KeptFromSeq != 123456782 || len(res.Dropped) != 1 {
		t.Fatalf("Prune = %+v", res)
	}
}

// The BSN guard stays on for everything else in Details: a value typed by a person
// (an auditor's filter, say) that is a BSN is still refused.
func TestDetailsStillRefuseABSN(t *testing.T) {
	ev := event(1)
	ev.Details = map[string]string{"filter.person": "123456782"}
	if err := ev.Normalize(time.Now()).Validate(); err == nil {
		t.Fatal("a BSN in a free-text detail was accepted")
	}
}
