package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// renderFunc is a Renderer for the handler's own checks (payload, error mapping).
type renderFunc func(ctx context.Context, id string) error

func (f renderFunc) Render(ctx context.Context, id string) error { return f(ctx, id) }
func (f renderFunc) GiveUp(context.Context, string) error {
	return errors.New("not on the last attempt")
}

// brokenSealer fails every Seal, as a KMS outage would: a transient error.
type brokenSealer struct{ *vault.Vault }

func (brokenSealer) Seal(string, []byte) ([]byte, error) { return nil, errors.New("kms unavailable") }

func TestHandleRenderTaskErrors(t *testing.T) {
	transient := pgo.Errorf(pgo.EUNAVAILABLE, "database down")
	perm := export.ErrPermanent
	id := uuid.NewString()
	tests := []struct {
		name     string
		payload  string
		result   error
		wantSkip bool
		wantErr  bool
	}{
		{"ok", `{"job_id":"` + id + `"}`, nil, false, false},
		{"not json", `{`, nil, true, true},
		{"job id not a uuid", `{"job_id":"x"}`, nil, true, true},
		{"permanent", `{"job_id":"` + id + `"}`, perm, true, true},
		{"transient", `{"job_id":"` + id + `"}`, transient, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := worker.HandleRenderTask(renderFunc(func(_ context.Context, got string) error {
				if got != id {
					t.Errorf("rendered %q", got)
				}
				return tt.result
			}))
			err := h(context.Background(), asynq.NewTask(worker.TypeExportRender, []byte(tt.payload)))
			if (err != nil) != tt.wantErr || errors.Is(err, asynq.SkipRetry) != tt.wantSkip {
				t.Fatalf("err %v", err)
			}
		})
	}
	task := worker.NewRenderTask(id)
	if task.Type != worker.TypeExportRender || task.Timeout != 10*time.Minute || task.MaxRetry != worker.RenderMaxRetry {
		t.Fatalf("task %+v", task)
	}
}

// Through the real outbox relay and asynq on Redis: a requested job is rendered by
// the worker; the same job delivered again (another TaskID, as after a lost
// acknowledgement) leaves one document; invalid data is archived, not retried.
func TestRenderThroughWorker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, redisURL := storetest.DB(t), storetest.Redis(t)
	v, _ := vaulttest.New(t)
	dos := dossier.New(dossierdb.New(db), v)
	jobs := export.NewJobs(export.JobsConfig{Store: exportdb.New(db, worker.NewRenderTask), Dossier: dos, Sealer: v, Source: "PGO Zuid"})
	user, nobody := uuid.NewString(), uuid.NewString()
	// dossier imports need an existing account (issue 14)
	if _, err := db.Pool.Exec(ctx, `insert into accounts (id, name, role, password_hash) values ($1, $2, 'patient', 'not a hash')`,
		user, "patient-"+user); err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dos.Import(ctx, user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{RedisURL: redisURL, DB: db, Concurrency: 2, ShutdownTimeout: 5 * time.Second, OutboxPoll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(worker.TypeExportRender, worker.HandleRenderTask(jobs))
	// jobs whose outbox task is ignored, rendered by a handler whose sealer fails
	ignored := func(id string) store.Task {
		return store.Task{Type: "test:ignore", Payload: worker.NewRenderTask(id).Payload}
	}
	broken := export.NewJobs(export.JobsConfig{Store: exportdb.New(db, ignored), Dossier: dos, Sealer: brokenSealer{v}, Source: "PGO Zuid"})
	w.Handle("test:ignore", asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	w.Handle("test:render-broken", worker.HandleRenderTask(broken))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	req := func(u string) export.Job {
		j, err := jobs.Request(ctx, export.Request{UserID: u, Categories: []dossier.Category{dossier.CatProblems}, ActorType: "system", ActorID: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	good, bad := req(user), req(nobody)
	waitFinal(t, jobs, good.ID)
	waitFinal(t, jobs, bad.ID)

	ro, _ := asynq.ParseRedisURI(redisURL)
	client, inspector := asynq.NewClient(ro), asynq.NewInspector(ro)
	defer client.Close()
	defer inspector.Close()
	// a redelivery of the good job's task under a fresh TaskID
	again := worker.NewRenderTask(good.ID)
	info, err := client.Enqueue(asynq.NewTask(again.Type, again.Payload), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, inspector, info.ID, asynq.TaskStateCompleted)
	var docs, rendered int
	_ = db.Pool.QueryRow(ctx, `select count(*) from export_document where job_id = $1`, good.ID).Scan(&docs)
	_ = db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'document_rendered' and object_id = $1`, good.ID).Scan(&rendered)
	if docs != 1 || rendered != 1 {
		t.Fatalf("%d documents, %d document_rendered records", docs, rendered)
	}
	if j, _ := jobs.Job(ctx, good.ID); j.Status != export.StatusReady || j.Attempts != 1 {
		t.Fatalf("good job %+v", j)
	}
	if j, _ := jobs.Job(ctx, bad.ID); j.Status != export.StatusFailed || j.Attempts != 1 {
		t.Fatalf("bad job %+v", j)
	}
	// the failed task was archived at once (SkipRetry), not scheduled for a retry
	badTask := outboxID(t, db, bad.ID)
	waitTask(t, inspector, badTask, asynq.TaskStateArchived)

	// a transient failure on the last attempt fails the job instead of leaving it
	// in rendering for ever
	last, err := broken.Request(ctx, export.Request{UserID: user, Categories: []dossier.Category{dossier.CatProblems}, ActorType: "system", ActorID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	payload := worker.NewRenderTask(last.ID).Payload
	info, err = client.Enqueue(asynq.NewTask("test:render-broken", payload), asynq.MaxRetry(0), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, inspector, info.ID, asynq.TaskStateArchived)
	j, _ := jobs.Job(ctx, last.ID)
	var reason string
	_ = db.Pool.QueryRow(ctx, `select reason from audit_log where action = 'export_failed' and object_id = $1`, last.ID).Scan(&reason)
	if j.Status != export.StatusFailed || !strings.Contains(j.Failure, "herhaalde pogingen") || reason != "retries_exhausted" {
		t.Fatalf("after the last attempt: %+v, audit reason %q", j, reason)
	}
}

func outboxID(t *testing.T, db *store.DB, jobID string) string {
	t.Helper()
	var id string
	if err := db.Pool.QueryRow(context.Background(), `select id::text from outbox where convert_from(payload, 'UTF8')::jsonb->>'job_id' = $1`, jobID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitFinal(t *testing.T, jobs *export.Jobs, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if j, err := jobs.Job(context.Background(), id); err == nil && j.Status.Final() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s not final within 30s", id)
}

func waitTask(t *testing.T, in *asynq.Inspector, id string, want asynq.TaskState) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last asynq.TaskState
	for time.Now().Before(deadline) {
		info, err := in.GetTaskInfo("default", id)
		if err == nil {
			if last = info.State; last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s: state %v, want %v", id, last, want)
}

// Rewrap walks each table by cursor until it is done and sums the batches; a bad
// payload is not retried; a failing batch stops with the table's name.
func TestRewrapWalksTargets(t *testing.T) {
	var calls []string
	pages := map[string]worker.RewrapBatch{"": {Next: "a", Moved: 2}, "a": {Next: "b", Moved: 1, Failed: 1}, "b": {Raced: 1}}
	targets := []worker.RewrapTarget{
		{Name: "t1", Batch: func(_ context.Context, after string, limit int) (worker.RewrapBatch, error) {
			calls = append(calls, after)
			if limit != 3 && limit != 50 {
				t.Errorf("limit %d", limit)
			}
			return pages[after], nil
		}},
		{Name: "t2", Batch: func(context.Context, string, int) (worker.RewrapBatch, error) { return worker.RewrapBatch{}, nil }},
	}
	tot, err := worker.Rewrap(context.Background(), targets, 3, nil)
	if err != nil || len(tot) != 2 || tot[0] != (worker.RewrapTotal{Name: "t1", Moved: 3, Raced: 1, Failed: 1}) || len(calls) != 3 {
		t.Fatalf("%v %+v %q", err, tot, calls)
	}
	boom := errors.New("db down")
	_, err = worker.Rewrap(context.Background(), []worker.RewrapTarget{{Name: "t3", Batch: func(context.Context, string, int) (worker.RewrapBatch, error) {
		return worker.RewrapBatch{}, boom
	}}}, 0, nil)
	if !errors.Is(err, boom) || err.Error() != "rewrap t3: db down" {
		t.Fatalf("err %v", err)
	}
	h := worker.HandleRewrapTask(targets, nil)
	for _, p := range []string{`{`, `{"batch":-1}`} {
		if err := h(context.Background(), asynq.NewTask(worker.TypeKeysRewrap, []byte(p))); !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("payload %s: %v", p, err)
		}
	}
	task := worker.NewRewrapTask(50)
	if err := h(context.Background(), asynq.NewTask(task.Type, task.Payload)); err != nil || task.Timeout == 0 {
		t.Fatalf("%v %+v", err, task)
	}
}
