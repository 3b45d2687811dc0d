package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestScaleOut runs 50 transfers on two instances that each have two `pgo
// serve` and two `pgo worker` processes on one database and one Redis DB
// (issue 17), through `pgo bench transfer --serve 2 --workers 2`: every
// patient works with one serve process and follows the progress of its
// transfer from the other one, on a stream opened before the consent (so each
// change reached it by LISTEN/NOTIFY from another process). Afterwards both
// databases must show every transfer completed exactly once and no job run
// twice, and `pgo audit verify` must pass on both.
func TestScaleOut(t *testing.T) {
	const n = 50
	prefix := fmt.Sprintf("pgo_scaletest_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropDemoDatabases(t, prefix) })
	dir := filepath.Join(t.TempDir(), "bench")
	args := []string{"bench", "transfer", "--count", fmt.Sprint(n), "--concurrency", "10", "--serve", "2", "--workers", "2",
		"--json", "--dir", dir, "--db-prefix", prefix, "--postgres", storetest.BaseURL(),
		"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t)}
	code, stdout, stderr := runPGO(t, nil, args...)
	if code != 0 {
		t.Fatalf("pgo %v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	var rep transferReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if rep.Transfers != n || rep.Failures != 0 || rep.Watched != n || rep.Serves != 2 || rep.Workers != 2 {
		t.Errorf("report: %d transfers, %d failed, %d watched from the other serve process, %d serve and %d worker processes; want %d, 0, %d, 2, 2",
			rep.Transfers, rep.Failures, rep.Watched, rep.Serves, rep.Workers, n, n)
	}
	for _, p := range []string{"PGO Noord serve 2", "PGO Noord worker 2", "PGO Zuid serve 2", "PGO Zuid worker 2"} {
		if rep.RSS[p] <= 0 {
			t.Errorf("no second process %s: %v", p, rep.RSS)
		}
	}
	st, err := loadDemoState(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, st.instance("noord").Database, n, sourceOnce)
	checkOnce(t, st.instance("zuid").Database, n, targetOnce)
	for _, inst := range st.Instances {
		checkProcessedOnce(t, inst)
	}
	for _, inst := range st.Instances {
		if code, out, errOut := runPGO(t, st.instanceVars(dir, &inst), "audit", "verify"); code != 0 {
			t.Errorf("pgo audit verify at %s: exit %d\n%s%s", inst.Name, code, out, errOut)
		}
	}
}

// onceCheck is a query that returns a count and the count it must be.
type onceCheck struct {
	what, query string
	want        func(n int) int
}

// sourceOnce: at the source, one grant, one render job, one render and one
// document per transfer, each job started once.
var sourceOnce = []onceCheck{
	{"consent grants", `select count(*) from consent_grant`, same},
	{"render jobs ready", `select count(*) from export_job where status = 'ready'`, same},
	{"render jobs started more than once", `select count(*) from export_job where attempts <> 1`, zero},
	{"rendered documents", `select count(*) from export_document`, same},
	{"document_rendered records", `select count(*) from audit_log where action = 'document_rendered'`, same},
	{"correlation ids with other than one grant or render", `select count(*) from (select correlation_id from audit_log
		where action in ('consent_granted', 'document_rendered') group by correlation_id, action having count(*) <> 1) x`, zero},
	{"outbox rows not sent", `select count(*) from outbox where sent_at is null`, zero},
}

// targetOnce: at the target, every transfer done after one fetch attempt, with
// one stored document, one code redemption and one transfer_completed record.
var targetOnce = []onceCheck{
	{"transfers done", `select count(*) from transfer where status = 'done'`, same},
	{"transfers fetched more than once", `select count(*) from transfer where attempts <> 1`, zero},
	{"stored documents", `select count(*) from transfer_document`, same},
	{"transfers with other than one document", `select count(*) from transfer t
		where (select count(*) from transfer_document d where d.transfer_id = t.id) <> 1`, zero},
	{"transfer_completed records", `select count(*) from audit_log where action = 'transfer_completed'`, same},
	{"transfers with other than one completion or redemption", `select count(*) from transfer t where
		(select count(*) from audit_log a where a.correlation_id = t.correlation_id::text and a.action = 'transfer_completed') <> 1
		or (select count(*) from audit_log a where a.correlation_id = t.correlation_id::text and a.action = 'code_redeemed') <> 1`, zero},
	{"outbox rows not sent", `select count(*) from outbox where sent_at is null`, zero},
}

func same(n int) int { return n }
func zero(int) int   { return 0 }

// checkProcessedOnce compares what asynq processed (succeeded or failed, all
// queues, since the Redis DB was flushed) with the instance's outbox rows: each
// row is enqueued under its own TaskID, so more would be a task run twice.
func checkProcessedOnce(t *testing.T, inst demoInstance) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(inst.Redis)
	if err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		t.Fatal(err)
	}
	processed, failed := 0, 0
	for _, q := range queues {
		info, err := in.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		processed += info.ProcessedTotal
		failed += info.FailedTotal
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, inst.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows int
	if err := conn.QueryRow(ctx, `select count(*) from outbox`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if processed != rows || failed != 0 || rows == 0 {
		t.Errorf("%s: asynq processed %d tasks (%d failed) for %d outbox rows", inst.Name, processed, failed, rows)
	}
}

// checkOnce runs the checks on the database at url (as its owner).
func checkOnce(t *testing.T, url string, n int, checks []onceCheck) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, c := range checks {
		var got int
		if err := conn.QueryRow(ctx, c.query).Scan(&got); err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if got != c.want(n) {
			t.Errorf("%s in %s: %d, want %d", c.what, dbName(url), got, c.want(n))
		}
	}
}
