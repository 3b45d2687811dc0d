package auditdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Verification walks the chain in audit_link's (link, seq) order and looks each
// link's record up by its key, in every plan: a generic one (what a prepared
// statement keeps) and a custom one for the first batch of a whole-log walk,
// whose range covers every link. As a plain join, a log of several months
// (1,000,000 records in six partitions) hash-joined all of audit_log with all of
// audit_link and sorted the result for every batch of 1,000 records.
func TestVerifyWalksTheChainByIndex(t *testing.T) {
	ctx := context.Background()
	db := openWide(t, 4)
	seedBulk(t, db, 20000)
	// Records of two more months, so that the walk spans partitions.
	for _, m := range []int{-2, -1} {
		recordAt(t, db, event(m), time.Now().AddDate(0, m, 0))
	}
	linkAll(t, db)
	if _, err := db.Pool.Exec(ctx, "analyze audit_log, audit_link"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"force_generic_plan", "force_custom_plan"} {
		err := db.WithTx(ctx, func(tx pgx.Tx) error {
			for _, set := range []string{"set local jit = off", "set local plan_cache_mode = " + mode} {
				if _, err := tx.Exec(ctx, set); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "prepare walk as "+walkSQL); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "explain execute walk(0, 9223372036854775807, 9223372036854775807)")
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, "Merge Append") || !strings.Contains(plan, "audit_link_p") {
				t.Errorf("%s: the walk does not read audit_link in (link, seq) order:\n%s", mode, plan)
			}
			// The two months of one record each may be read whole; the month
			// of 20,000 is looked up by key.
			big := partitionName(time.Now())
			for _, bad := range []string{"Hash", "Seq Scan on " + big, "  Sort  "} {
				if strings.Contains(plan, bad) {
					t.Errorf("%s: the walk's plan has a %q:\n%s", mode, strings.TrimSpace(bad), plan)
				}
			}
			_, err = tx.Exec(ctx, "deallocate walk")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
