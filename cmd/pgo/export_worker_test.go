package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// jobRow is what the test reads of an export job straight from PostgreSQL.
type jobRow struct {
	status      string
	done, total int
	attempts    int
	sha256      []byte
}

func readJob(t *testing.T, db *store.DB, id string) jobRow {
	t.Helper()
	var j jobRow
	err := db.Pool.QueryRow(context.Background(), `select status, items_done, items_total, attempts, sha256
		from export_job where id = $1`, id).Scan(&j.status, &j.done, &j.total, &j.attempts, &j.sha256)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// waitJob polls the job until ok or the timeout.
func waitJob(t *testing.T, db *store.DB, id string, timeout time.Duration, ok func(jobRow) bool) jobRow {
	t.Helper()
	return waitFor(t, timeout, 10*time.Millisecond, func() jobRow { return readJob(t, db, id) }, ok,
		func(j jobRow) string { return fmt.Sprintf("job %s: still %+v", id, j) })
}

// The real `pgo worker` is killed (SIGKILL) while it renders a large generated
// dossier: no document is left behind; after a restart asynq recovers the task
// (lease expiry, then a retry) and the export completes once, with one document
// whose SHA-256 is the stored one and whose decrypted bytes are a PDF. Then
// `pgo keys rotate` keeps it readable and `pgo keys rewrap` moves it to the new key.
//
// The kill must fall inside the render however fast the host: the test locks the
// job's row once the job is rendering, so the worker's next write to it (a
// progress write or the final compare-and-set to ready) waits on the test's
// transaction; the worker is killed while PostgreSQL shows it waiting there. The
// job's progress (items done of total, what `pgo export status` and the source's
// pages show) ends at all items when the job is ready.
//
// Slow by nature (1-2 minutes): asynq only recovers a task whose lease (30 s)
// expired 30 s ago, on a one-minute tick; PGO_WORKER_RETRY_DELAY cuts the
// retry's own wait (15-45 s by default) to a second.
func TestExportSurvivesKilledWorker(t *testing.T) {
	vars, dir, user := exportVars(t), t.TempDir(), uuid.NewString()
	vars["PGO_REDIS_URL"] = storetest.Redis(t)
	vars["PGO_OUTBOX_POLL"] = "200ms"
	vars["PGO_WORKER_CONCURRENCY"] = "2"
	vars["PGO_WORKER_RETRY_DELAY"] = "1s"
	db, err := store.Open(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	large := filepath.Join(dir, "large.json")
	mustCLI(t, vars, "dossier", "generate", "--size", "large", "--seed", "11", "--out", large)
	addAccount(t, vars, user)
	mustCLI(t, vars, "dossier", "import", "--user", user, large)
	out, _ := mustCLI(t, vars, "export", "request", "--user", user)
	id := strings.TrimSpace(out)

	w := startPGO(t, vars, "worker running", "worker")
	j, waiting, release := holdRendering(t, db, id, 60*time.Second)
	w.Signal(t, syscall.SIGKILL, 10*time.Second)
	release()
	var docs int
	_ = db.Pool.QueryRow(context.Background(), `select count(*) from export_document where job_id = $1`, id).Scan(&docs)
	if j := readJob(t, db, id); j.status != "rendering" || docs != 0 || j.sha256 != nil {
		t.Fatalf("after the kill: %+v, %d documents", j, docs)
	}
	t.Logf("killed the worker at %d of %d items, blocked in %q", j.done, j.total, waiting)

	start := time.Now()
	w2 := startPGO(t, vars, "worker running", "worker")
	j = waitJob(t, db, id, 4*time.Minute, func(j jobRow) bool { return j.status == "ready" || j.status == "failed" })
	t.Logf("completed %s after the restart, attempt %d", time.Since(start).Round(time.Second), j.attempts)
	w2.Signal(t, syscall.SIGTERM, 30*time.Second)
	if j.status != "ready" || j.attempts != 2 || j.done != j.total {
		t.Fatalf("job %+v", j)
	}
	var rendered int
	_ = db.Pool.QueryRow(context.Background(), `select count(*) from export_document where job_id = $1`, id).Scan(&docs)
	_ = db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where action = 'document_rendered' and object_id = $1`, id).Scan(&rendered)
	if docs != 1 || rendered != 1 {
		t.Fatalf("%d documents, %d document_rendered records", docs, rendered)
	}
	oldKey := checkDocument(t, db, vars["PGO_KEYSET_FILE"], id, j.sha256)

	status, _ := mustCLI(t, vars, "export", "status", id)
	if !strings.Contains(status, "status ready") || !strings.Contains(status, "sha256 ") {
		t.Fatalf("status %q", status)
	}
	mustCLI(t, vars, "keys", "rotate", "--keyset", vars["PGO_KEYSET_FILE"])
	if k := checkDocument(t, db, vars["PGO_KEYSET_FILE"], id, j.sha256); k != oldKey {
		t.Fatalf("rotation alone moved the document to key %d", k)
	}
	rewrap, _ := mustCLI(t, vars, "keys", "rewrap")
	if !regexp.MustCompile(`export_document +moved 1,`).MatchString(rewrap) || !regexp.MustCompile(`dossier_resource +moved 10004,`).MatchString(rewrap) {
		t.Fatalf("rewrap: %q", rewrap)
	}
	if k := checkDocument(t, db, vars["PGO_KEYSET_FILE"], id, j.sha256); k == oldKey {
		t.Fatal("rewrap left the document on the old key")
	}
	if again, _ := mustCLI(t, vars, "keys", "rewrap"); !regexp.MustCompile(`export_document +moved 0,`).MatchString(again) {
		t.Fatalf("second rewrap: %q", again)
	}
}

// holdRendering waits until job id is rendering and then holds its row locked in a
// transaction until a worker's backend waits on that lock. It returns the job as it
// was when locked, the statement the worker waits in and release, which rolls the
// transaction back (also done at cleanup).
// The worker cannot finish the job meanwhile: its last write is the compare-and-set
// to ready. On a fast host the render of the large dossier takes about a second
// and the job's progress may count every item at its first write, so waiting for a
// given count and then killing raced with the finish (the fresh-clone CI of e9a0bba).
func holdRendering(t *testing.T, db *store.DB, id string, timeout time.Duration) (jobRow, string, func()) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var j jobRow
		var pid int
		err = tx.QueryRow(ctx, `select status, items_done, items_total, attempts, sha256, pg_backend_pid()
			from export_job where id = $1 for update`, id).Scan(&j.status, &j.done, &j.total, &j.attempts, &j.sha256, &pid)
		if err != nil {
			t.Fatal(err)
		}
		if j.status == "rendering" {
			release := func() { _ = tx.Rollback(ctx) }
			t.Cleanup(release)
			waiting := waitFor(t, time.Until(deadline), 10*time.Millisecond, func() string {
				var q string
				_ = db.Pool.QueryRow(ctx, `select coalesce(min(query), '') from pg_stat_activity
					where $1 = any(pg_blocking_pids(pid))`, pid).Scan(&q)
				return q
			}, func(q string) bool { return q != "" }, func(string) string { return "no worker waits on the locked job row" })
			return j, strings.Join(strings.Fields(waiting), " "), release
		}
		_ = tx.Rollback(ctx)
		if j.status != "queued" || time.Now().After(deadline) {
			t.Fatalf("not caught while rendering: %+v", j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkDocument decrypts the stored document with the keyset, checks it against
// the stored hash and returns the id of the key that wraps it.
func checkDocument(t *testing.T, db *store.DB, keyset, id string, want []byte) uint32 {
	t.Helper()
	var sealed []byte
	if err := db.Pool.QueryRow(context.Background(), `select sealed from export_document where job_id = $1`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("%PDF")) {
		t.Fatal("the stored document holds a PDF header in the clear")
	}
	v, err := vault.Open(keyset)
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := export.StreamSeal{V: v}.Open(id, sealed) // sealed as a vault stream since issue 11
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(pdf); !bytes.Equal(sum[:], want) || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("document: sha256 %x, stored %x, starts %q", sum, want, pdf[:8])
	}
	k, err := vault.KeyID(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
