package auditdb

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// The linker's chain check (audit_link_follows, migration 019) looks each linked
// record up by index in audit_pending, audit_log and audit_link, even in a plan
// made while the tables were empty and kept for the backend's life: such plans
// used to scan and hash all of audit_log, or all of audit_pending, on every
// linker round. The plans are read with
// auto_explain on the linker's one connection, forced to generic plans, which
// is what PL/pgSQL keeps after a few runs.
func TestLinkFollowsLooksUpRecordsByIndex(t *testing.T) {
	ctx := context.Background()
	url := storetest.Schema(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	for k, v := range map[string]string{
		"plan_cache_mode":                    "force_generic_plan",
		"session_preload_libraries":          "auto_explain",
		"auto_explain.log_min_duration":      "0",
		"auto_explain.log_nested_statements": "on",
		"client_min_messages":                "log",
	} {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	var mu sync.Mutex
	var plans []string
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := &store.DB{Pool: pool}
	// The first round, whose plan is kept, links a batch: a join over the
	// batch then looked cheaper than a look-up per record.
	for i, n := range []int{50, 1, 1} {
		for j := range n {
			if err := Record(ctx, db, event(j)); err != nil {
				t.Fatal(err)
			}
		}
		if got := linkAll(t, db); got != n {
			t.Fatalf("round %d: %d records linked, want %d", i, got, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	checks := 0
	for _, p := range plans {
		if !strings.Contains(p, "delete from audit_pending p using linked l") {
			continue
		}
		checks++
		for _, scan := range []string{"Seq Scan on audit_log", "Seq Scan on audit_link", "Seq Scan on audit_pending", "Hash"} {
			if strings.Contains(p, scan) {
				t.Errorf("the chain check's plan has a %s:\n%s", scan, p)
				break
			}
		}
	}
	if checks != 3 {
		t.Fatalf("%d plans of the chain check seen, want 3 (one per linker round); %d plans in all", checks, len(plans))
	}
	other, err := store.Open(ctx, url) // verification reads on two connections
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mustVerify(t, New(other, nil))
}
