package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestWorkerSignsAuditCheckpointsAndStopsCleanly boots the real `pgo worker`: with
// a signing key it signs the audit chain head periodically (issue 4), a new record
// leads to a newer checkpoint, and SIGTERM ends it with exit 0.
func TestWorkerSignsAuditCheckpointsAndStopsCleanly(t *testing.T) {
	ctx := context.Background()
	url := storetest.Schema(t)
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := filepath.Join(t.TempDir(), "signing.pem")
	if code, out, errOut := runCLI(t, nil, "", "keys", "signing-key", "--out", key); code != 0 {
		t.Fatalf("signing-key: %d %s %s", code, out, errOut)
	}
	record := func() {
		t.Helper()
		err := auditdb.Record(ctx, db, audit.Event{Action: audit.ActAuditViewed, Outcome: audit.Success,
			ActorType: audit.ActorSystem, ActorID: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	record()
	sink := filepath.Join(t.TempDir(), "checkpoints.jws")
	p := startPGO(t, map[string]string{
		"PGO_KEYSET_FILE":               vaulttest.Keyset(t),
		"PGO_DATABASE_URL":              url,
		"PGO_REDIS_URL":                 storetest.Redis(t),
		"PGO_SIGNING_KEY":               key,
		"PGO_AUDIT_CHECKPOINT_INTERVAL": "1s",
		"PGO_AUDIT_CHECKPOINT_SINK":     sink,
	}, "worker running", "worker")
	waitCheckpoints := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var n int
			if err := db.Pool.QueryRow(ctx, "select count(*) from audit_checkpoint").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d checkpoints after 30 s; want %d\nstderr:\n%s", n, want, p.Stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitCheckpoints(1)
	record()
	waitCheckpoints(2)
	if code, out, errOut := runPGO(t, map[string]string{"PGO_DATABASE_URL": url, "PGO_SIGNING_KEY": key}, "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after worker checkpoints: %d %s %s", code, out, errOut)
	}
	if code := p.Signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("worker exit code after SIGTERM: %d\nstderr:\n%s", code, p.Stderr)
	}
	if !strings.Contains(p.Stderr.String(), "worker stopped") {
		t.Errorf("no orderly stop in the log:\n%s", p.Stderr)
	}
	b, err := os.ReadFile(sink)
	if err != nil || strings.Count(string(b), "\n") < 2 {
		t.Fatalf("sink %q (%v): want the two checkpoints", b, err)
	}

	// Issue 15, finding 1: with the database alone, truncate the tail and hide
	// it (delete the checkpoints, move the head back). The database now looks
	// whole; the sink outside it does not agree.
	err = db.WithTx(ctx, func(tx pgx.Tx) error {
		for _, sql := range []string{
			"set local session_replication_role = replica",
			"delete from audit_log where seq = 2",
			"delete from audit_link where seq = 2",
			"delete from audit_checkpoint",
			"update audit_chain_head set seq = 1, hash = (select hash from audit_link where seq = 1)",
		} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PGO_DATABASE_URL": url, "PGO_SIGNING_KEY": key}
	if code, out, _ := runPGO(t, vars, "audit", "verify"); code != 0 {
		t.Fatalf("without the sink the truncation should pass unseen (the attack): exit %d %s", code, out)
	}
	vars["PGO_AUDIT_CHECKPOINT_SINK"] = sink
	if code, out, errOut := runPGO(t, vars, "audit", "verify"); code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "checkpoint") {
		t.Fatalf("verify against the sink: exit %d\n%s%s", code, out, errOut)
	}
}

// TestWorkerRefusesToStartWrongly: an unmigrated database and a missing keyset each
// stop the worker at start with one line that says what to do, instead of failing
// every task later.
func TestWorkerRefusesToStartWrongly(t *testing.T) {
	code, _, errOut := runPGO(t, map[string]string{"PGO_KEYSET_FILE": vaulttest.Keyset(t),
		"PGO_DATABASE_URL": storetest.EmptySchema(t), "PGO_REDIS_URL": storetest.Redis(t)}, "worker")
	if code != 1 || !strings.Contains(errOut, "pgo migrate") {
		t.Fatalf("unmigrated: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runPGO(t, map[string]string{"PGO_KEYSET_FILE": filepath.Join(t.TempDir(), "none.json"),
		"PGO_DATABASE_URL": storetest.Schema(t), "PGO_REDIS_URL": storetest.Redis(t)}, "worker")
	if code != 2 || !strings.Contains(errOut, "PGO_KEYSET_FILE") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("missing keyset: exit %d, stderr %q", code, errOut)
	}
}
