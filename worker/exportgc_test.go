package worker_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// The export-cleanup periodic job deletes, in batches until none is left, every
// rendered export whose last token expired more than PGO_EXPORT_GRACE ago, and
// keeps the others.
func TestExportCleanupDeletesAfterGrace(t *testing.T) {
	db := storetest.DB(t)
	v, _ := vaulttest.New(t)
	st := exportdb.New(db, worker.NewRenderTask)
	jobs := export.NewJobs(export.JobsConfig{Store: st, Sealer: export.StreamSeal{V: v}})
	ctx := context.Background()
	now := time.Now()
	ready := func(servedUntil time.Time) string {
		user := uuid.NewString()
		job, err := jobs.Request(ctx, export.Request{UserID: user, Categories: []dossier.Category{dossier.CatProblems}, ActorType: audit.ActorUser, ActorID: user})
		if err != nil {
			t.Fatal(err)
		}
		doc := []byte("%PDF-1.7 " + job.ID)
		sealed, _ := export.StreamSeal{V: v}.Seal(job.ID, doc)
		_, _ = st.Start(ctx, job.ID)
		ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: user, ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
		if _, err := st.Finish(ctx, job.ID, export.Result{Pages: 1, Size: int64(len(doc)), SHA256: sha256.Sum256(doc), SHA1: sha1.Sum(doc)}, sealed, ev); err != nil {
			t.Fatal(err)
		}
		if err := st.Served(ctx, job.ID, servedUntil); err != nil {
			t.Fatal(err)
		}
		return job.ID
	}
	var old []string
	for range 120 { // more than two batches of 50
		old = append(old, ready(now.Add(-2*time.Hour)))
	}
	keep := ready(now.Add(-30 * time.Minute))
	p := worker.ExportCleanup(st, time.Hour, time.Minute, func() time.Time { return now })
	if p.Name != "export-cleanup" || p.Every != time.Minute {
		t.Fatalf("%+v", p)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var left, deleted int
	_ = db.Pool.QueryRow(ctx, `select count(*) from export_document`).Scan(&left)
	_ = db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'export_deleted'`).Scan(&deleted)
	var keptDoc int
	_ = db.Pool.QueryRow(ctx, `select count(*) from export_document where job_id = $1`, keep).Scan(&keptDoc)
	if left != 1 || keptDoc != 1 || deleted != len(old) {
		t.Fatalf("left %d (kept %d), %d deletions audited", left, keptDoc, deleted)
	}
}
