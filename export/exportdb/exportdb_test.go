package exportdb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// A request writes the job, its audit record (with the request and correlation
// ids) and the outbox row of its render task together.
func TestRequestWritesJobAuditOutbox(t *testing.T) {
	f := newFixture(t)
	job := f.request(t, dossier.CatProblems, dossier.CatProblems, dossier.CatAllergies)
	got := f.job(t, job.ID)
	if got.Status != export.StatusQueued || got.UserID != f.user || len(got.Categories) != 2 || got.Attempts != 0 {
		t.Fatalf("job %+v", got)
	}
	var reqID, corrID, details string
	err := f.db.Pool.QueryRow(context.Background(), `select request_id, correlation_id, details::text from audit_log
		where action = 'export_requested' and object_id = $1 and person_id = $2`, job.ID, f.user).Scan(&reqID, &corrID, &details)
	if err != nil || reqID != job.RequestID || corrID != job.CorrelationID || !strings.Contains(details, "problems,allergies") {
		t.Fatalf("audit: %v %q %q %q", err, reqID, corrID, details)
	}
	var payload []byte
	var timeout, retry int
	err = f.db.Pool.QueryRow(context.Background(), `select payload, timeout_s, max_retry from outbox where task_type = $1`,
		worker.TypeExportRender).Scan(&payload, &timeout, &retry)
	var p worker.RenderPayload
	if err != nil || json.Unmarshal(payload, &p) != nil || p.JobID != job.ID || timeout != 600 || retry != worker.RenderMaxRetry {
		t.Fatalf("outbox: %v %s %d %d", err, payload, timeout, retry)
	}
}

// A request inside a transaction that rolls back (the consent grant failed after
// it) leaves no job, no audit record and no outbox row.
func TestRequestRolledBackLeavesNothing(t *testing.T) {
	f := newFixture(t)
	job, ev, err := f.jobs.Prepare(export.Request{UserID: f.user, Categories: []dossier.Category{dossier.CatProblems}, ActorType: audit.ActorUser, ActorID: f.user})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("grant failed after the export was requested")
	err = f.db.WithTx(context.Background(), func(tx pgx.Tx) error {
		if err := f.store.CreateTx(context.Background(), tx, job, ev); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	for q, want := range map[string]int{
		`select count(*) from export_job`: 0, `select count(*) from outbox`: 0,
		`select count(*) from audit_log where action = 'export_requested'`: 0,
	} {
		if n := f.count(t, q); n != want {
			t.Errorf("%s: %d", q, n)
		}
	}
}

// Invalid requests are rejected with the field at fault and write nothing.
func TestRequestInvalid(t *testing.T) {
	f := newFixture(t)
	ok := export.Request{UserID: f.user, Categories: []dossier.Category{dossier.CatProblems}, ActorType: "system", ActorID: "cli"}
	tests := []struct {
		name string
		edit func(*export.Request)
		want string
	}{
		{"user not a uuid", func(r *export.Request) { r.UserID = "jan" }, "user id must be a UUID"},
		{"no categories", func(r *export.Request) { r.Categories = nil }, "categories: select at least one"},
		{"unknown category", func(r *export.Request) { r.Categories = []dossier.Category{"problems", "x"} }, `categories[1]: unknown category "x"`},
		{"bad level", func(r *export.Request) { r.Conformance = 7 }, "conformance: unknown level 7"},
		{"no actor", func(r *export.Request) { r.ActorID = "" }, "actor: who asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			_, err := f.jobs.Request(context.Background(), r)
			if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	if n := f.count(t, `select count(*) from export_job`) + f.count(t, `select count(*) from outbox`); n != 0 {
		t.Fatalf("%d rows written", n)
	}
}

// The same task delivered twice (one after the other, and two at once) renders
// one document with one document_rendered record; a later delivery is a no-op.
func TestDoubleDeliveryRendersOnce(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	ctx := context.Background()

	seq := f.request(t)
	for range 2 {
		if err := f.jobs.Render(ctx, seq.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j := f.job(t, seq.ID); j.Status != export.StatusReady || j.Attempts != 1 || j.Done != j.Total || j.Total == 0 || j.Percent() != 100 {
		t.Fatalf("job %+v", j)
	}

	par := f.request(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = f.jobs.Render(ctx, par.ID) })
	}
	wg.Wait()
	if errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	for _, id := range []string{seq.ID, par.ID} {
		if d, a := f.documents(t, id), f.audits(t, "document_rendered", id); d != 1 || a != 1 {
			t.Errorf("job %s: %d documents, %d document_rendered records", id, d, a)
		}
	}
}

// A job left in rendering by a killed worker renders again; the document's
// SHA-256 is the stored one and is on the audit record, and it opens as a PDF.
func TestRenderAfterCrashAndDocument(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	ctx := context.Background()
	job := f.request(t)
	if _, _, err := f.jobs.Document(ctx, job.ID); pgo.ErrorCode(err) != pgo.ECONFLICT || !strings.Contains(pgo.ErrorMessage(err), "queued") {
		t.Fatalf("document of a queued job: %v", err)
	}
	if _, err := f.db.Pool.Exec(ctx, `update export_job set status = 'rendering', attempts = 1, items_done = 3, items_total = 40 where id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.jobs.Render(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	pdf, meta, err := f.jobs.Document(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Attempts != 2 || !bytes.HasPrefix(pdf, []byte("%PDF-")) || sha256.Sum256(pdf) != meta.SHA256 || int64(len(pdf)) != meta.Size || meta.Pages < 1 {
		t.Fatalf("meta %+v, %d bytes", meta, len(pdf))
	}
	var hashes, corr string
	var items, strs, missing int
	if err := f.db.Pool.QueryRow(ctx, `select object_hashes->>'sha256', correlation_id, (details->>'proof_items')::int,
		(details->>'proof_strings')::int, (details->>'proof_missing')::int from audit_log
		where action = 'document_rendered' and object_id = $1`, job.ID).Scan(&hashes, &corr, &items, &strs, &missing); err != nil {
		t.Fatal(err)
	}
	// the completeness proof is on the audit record and on the job: the MedMij patient's items, every string found
	if items < 50 || strs <= items || missing != 0 || meta.Proof != (export.Proof{Items: items, Strings: strs}) {
		t.Fatalf("proof: audit %d items, %d strings, %d missing; job %+v", items, strs, missing, meta.Proof)
	}
	if want := sha256.Sum256(pdf); hashes != string(hexOf(want[:])) || corr != job.CorrelationID {
		t.Fatalf("audit sha256 %s, correlation id %q", hashes, corr)
	}
	// a stored hash that does not match the bytes is an internal error, not a document
	if _, err := f.db.Pool.Exec(ctx, `update export_job set sha256 = sha256(sha256) where id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.jobs.Document(ctx, job.ID); pgo.ErrorCode(err) != pgo.EINTERNAL {
		t.Fatalf("mismatching hash: %v", err)
	}
	for _, id := range []string{"nope", uuid.NewString()} {
		if _, _, err := f.jobs.Document(ctx, id); err == nil {
			t.Errorf("document %s: no error", id)
		}
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// Invalid dossier data (here: no patient, so the cover page has no name) fails the
// job for good with a fixed caller-safe reason (the detail stays in the returned
// error, for the operator's log) and an export_failed record; the error is
// permanent, so the task is not retried; a second delivery changes nothing.
func TestInvalidDossierFailsPermanently(t *testing.T) {
	f := newFixture(t) // f.user has no dossier at all
	job := f.request(t, dossier.CatProblems)
	err := f.jobs.Render(context.Background(), job.ID)
	if !errors.Is(err, export.ErrPermanent) || pgo.ErrorCode(err) != pgo.EINVALID {
		t.Fatalf("err %v", err)
	}
	j := f.job(t, job.ID)
	if j.Status != export.StatusFailed || j.Failure != export.InvalidDossierMessage || !strings.Contains(err.Error(), "Summary.Patient.Name: is empty") {
		t.Fatalf("job %+v", j)
	}
	var outcome, reason string
	if err := f.db.Pool.QueryRow(context.Background(), `select outcome, reason from audit_log where action = 'export_failed' and object_id = $1`, job.ID).Scan(&outcome, &reason); err != nil || outcome != "failure" || reason != "invalid_dossier" {
		t.Fatalf("audit %v %s %s", err, outcome, reason)
	}
	if err := f.jobs.Render(context.Background(), job.ID); err != nil || f.audits(t, "export_failed", job.ID) != 1 || f.documents(t, job.ID) != 0 {
		t.Fatalf("second delivery: %v", err)
	}
	// an unknown job is permanent too (nothing to record it on)
	if err := f.jobs.Render(context.Background(), uuid.NewString()); !errors.Is(err, export.ErrPermanent) {
		t.Fatalf("unknown job: %v", err)
	}
}

// A job whose consent ended (withdrawn, superseded) before its render began is
// not rendered: it fails with an export_failed record, reason consent_ended,
// and no document is stored; the task does not retry it.
func TestConsentEndedBeforeRenderIsNotRendered(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	job := f.request(t, dossier.CatProblems)
	ctx := context.Background()
	err := f.db.WithTx(ctx, func(tx pgx.Tx) error { return f.store.EndGrant(ctx, tx, job.ID, time.Now()) })
	if err != nil {
		t.Fatal(err)
	}
	if err := f.jobs.Render(ctx, job.ID); err != nil {
		t.Fatalf("render: %v", err)
	}
	j := f.job(t, job.ID)
	if j.Status != export.StatusFailed || j.Failure != export.ConsentEndedMessage || f.documents(t, job.ID) != 0 {
		t.Fatalf("job %s %q, %d documents; want failed, consent ended, none", j.Status, j.Failure, f.documents(t, job.ID))
	}
	var reason string
	if err := f.db.Pool.QueryRow(ctx, `select reason from audit_log where action = 'export_failed' and object_id = $1`, job.ID).Scan(&reason); err != nil || reason != "consent_ended" {
		t.Fatalf("audit %v %q", err, reason)
	}
	// control: a job whose consent is live renders
	live := f.request(t, dossier.CatProblems)
	if err := f.jobs.Render(ctx, live.ID); err != nil || f.job(t, live.ID).Status != export.StatusReady {
		t.Fatalf("live consent: %v %s", err, f.job(t, live.ID).Status)
	}
}

// A transient error (the database is gone) is returned as is, so the task retries,
// and the job stays where it was.
func TestTransientErrorIsRetried(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	job := f.request(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.jobs.Render(ctx, job.ID)
	if err == nil || errors.Is(err, export.ErrPermanent) {
		t.Fatalf("err %v", err)
	}
	if j := f.job(t, job.ID); j.Status != export.StatusQueued {
		t.Fatalf("status %s", j.Status)
	}
}

// At rest, neither the job row nor the document row holds a PDF header or the
// patient's name.
func TestRawRowsEncrypted(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	job := f.request(t)
	if err := f.jobs.Render(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.Pool.Query(context.Background(), `select d::text from export_job d union all select encode(sealed, 'escape') from export_document`)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(texts) != 2 {
		t.Fatalf("%v %d rows", err, len(texts))
	}
	var sealed []byte
	if err := f.db.Pool.QueryRow(context.Background(), `select sealed from export_document`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"%PDF", "XXX_Rijn", "Rijn", "Alcoholische levercirrose"} {
		if bytes.Contains(sealed, []byte(needle)) || strings.Contains(strings.Join(texts, "\n"), needle) {
			t.Errorf("raw rows hold %q", needle)
		}
	}
}

// progressCounter counts the progress writes that reach PostgreSQL.
type progressCounter struct {
	*exportdb.Store
	writes []int
}

func (p *progressCounter) Progress(ctx context.Context, id string, done, total int) error {
	p.writes = append(p.writes, done)
	return p.Store.Progress(ctx, id, done, total)
}

// Progress reaches PostgreSQL at most every Throttle.Percent of the items and
// Interval, always at the first report and at the end: a render shorter than the
// interval writes its job row twice, not once per step.
func TestProgressThrottled(t *testing.T) {
	f := newFixture(t)
	f.importGenerated(t, dossier.SizeStandard, 3)
	tests := []struct {
		throttle export.Throttle
		min, max int
	}{
		{export.Throttle{Percent: 5}, 15, 25},
		{export.Throttle{Percent: 50}, 2, 4},
		{export.Throttle{Percent: 100}, 2, 2},
		{export.Throttle{Percent: 1, Interval: time.Hour}, 2, 2},
		{export.Throttle{Percent: 5, Interval: time.Hour}, 2, 2},
	}
	for _, tt := range tests {
		pc := &progressCounter{Store: f.store}
		jobs := export.NewJobs(export.JobsConfig{Store: pc, Dossier: f.dos, Sealer: f.vault, Source: "PGO Noord", Throttle: tt.throttle})
		job, err := jobs.Request(context.Background(), export.Request{UserID: f.user, Categories: []dossier.Category{dossier.CatResults, dossier.CatMedication}, ActorType: "system", ActorID: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.Render(context.Background(), job.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(pc.writes); n < tt.min || n > tt.max {
			t.Errorf("throttle %+v: %d writes %v, want %d-%d", tt.throttle, n, pc.writes, tt.min, tt.max)
		}
		if j := f.job(t, job.ID); j.Done != j.Total || j.Total < 100 {
			t.Errorf("final progress %d of %d", j.Done, j.Total)
		}
	}
}
