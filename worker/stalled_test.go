package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// stalledFixture is the real outbox relay and asynq's inspector on Redis, with
// no asynq server running: a task enqueued stays pending until the test moves it
// to the state it needs (archived, as asynq's recoverer leaves the task of a
// worker killed during its last attempt; gone, as after a Redis restart without
// its data).
type stalledFixture struct {
	db        *store.DB
	relay     *worker.Relay
	inspector *asynq.Inspector
}

func newStalledFixture(t *testing.T) *stalledFixture {
	t.Helper()
	db, redisURL := storetest.DB(t), storetest.Redis(t)
	ro, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(ro)
	in, err := worker.NewInspector(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); in.Close() })
	return &stalledFixture{db: db, relay: &worker.Relay{DB: db, Client: client}, inspector: in}
}

func (f *stalledFixture) drain(t *testing.T) {
	t.Helper()
	if _, err := f.relay.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// task is the newest outbox row of work id (its payload key and value).
func (f *stalledFixture) task(t *testing.T, key, id string) (taskID, queue string, sent bool) {
	t.Helper()
	err := f.db.Pool.QueryRow(context.Background(), `select id::text, queue, sent_at is not null from outbox
		where convert_from(payload, 'UTF8')::jsonb->>$1 = $2 order by created_at desc limit 1`, key, id).Scan(&taskID, &queue, &sent)
	if err != nil {
		t.Fatal(err)
	}
	return taskID, queue, sent
}

func (f *stalledFixture) state(t *testing.T, queue, taskID string) string {
	t.Helper()
	info, err := f.inspector.GetTaskInfo(queue, taskID)
	if err != nil {
		return err.Error()
	}
	return info.State.String()
}

func (f *stalledFixture) sweep(t *testing.T, kinds ...worker.Stalled) {
	t.Helper()
	p := worker.StalledSweep(f.db, f.inspector, kinds, 0, time.Minute, nil, func() time.Time { return time.Now().Add(time.Second) })
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// An export whose render task was archived while the job was rendering (the
// worker killed during the last attempt) is failed with its audit record; a job
// whose task Redis lost is sent again under the same TaskID and stays queued; a
// job whose task is pending, or whose outbox row is not sent yet, is left alone.
func TestStalledSweepEndsExportsNoTaskDrives(t *testing.T) {
	ctx := context.Background()
	f := newStalledFixture(t)
	v, _ := vaulttest.New(t)
	st := exportdb.New(f.db, worker.NewRenderTask)
	jobs := export.NewJobs(export.JobsConfig{Store: st, Sealer: v, Source: "PGO Zuid"})
	request := func() string {
		j, err := jobs.Request(ctx, export.Request{UserID: uuid.NewString(), Categories: []dossier.Category{dossier.CatProblems},
			ActorType: "system", ActorID: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	killed, lost, waiting := request(), request(), request()
	f.drain(t)
	unsent := request()

	killedTask, q, _ := f.task(t, "job_id", killed)
	if _, err := st.Start(ctx, killed); err != nil { // the attempt that was running when the worker died
		t.Fatal(err)
	}
	if err := f.inspector.ArchiveTask(q, killedTask); err != nil {
		t.Fatal(err)
	}
	lostTask, _, _ := f.task(t, "job_id", lost)
	if err := f.inspector.DeleteTask(q, lostTask); err != nil {
		t.Fatal(err)
	}

	kind := worker.Stalled{Type: worker.TypeExportRender, Task: worker.NewRenderTask, Unfinished: st.Unfinished, GiveUp: jobs.GiveUp}
	f.sweep(t, kind)

	status := func(id string) export.Status {
		j, err := jobs.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.Status
	}
	var reason string
	_ = f.db.Pool.QueryRow(ctx, `select reason from audit_log where action = 'export_failed' and object_id = $1`, killed).Scan(&reason)
	if s := status(killed); s != export.StatusFailed || reason != "retries_exhausted" {
		t.Fatalf("job whose task was archived: %s, audit reason %q; want failed, retries_exhausted", s, reason)
	}
	if id, _, sent := f.task(t, "job_id", lost); id != lostTask || sent || status(lost) != export.StatusQueued {
		t.Fatalf("job whose task was lost: row %s sent %v, job %s; want the same row unsent and the job queued", id, sent, status(lost))
	}
	f.drain(t)
	if s := f.state(t, q, lostTask); s != "pending" {
		t.Fatalf("the lost task after the relay ran again: %s, want pending under the same TaskID", s)
	}
	for _, id := range []string{waiting, unsent} {
		if s := status(id); s != export.StatusQueued {
			t.Fatalf("job %s: %s, want queued", id, s)
		}
	}
	if _, _, sent := f.task(t, "job_id", unsent); !sent {
		t.Fatal("the unsent row was not delivered by the relay's drain after the sweep")
	}

	// a second round finds nothing more to do: the failed job is final and the
	// others have live tasks
	f.sweep(t, kind)
	var failed int
	_ = f.db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'export_failed'`).Scan(&failed)
	if failed != 1 {
		t.Fatalf("%d export_failed records after two rounds, want 1", failed)
	}
}

// A transfer whose fetch task was archived is failed ("Opnieuw proberen" with the
// same token) while its documents were still being fetched, and finished (token
// revoked at the source, done) once they were stored.
func TestStalledSweepEndsTransfersNoTaskDrives(t *testing.T) {
	ctx := context.Background()
	f := newStalledFixture(t)
	tf := newTransferFixture(t, f.db)
	st, svc, src := tf.st, tf.svc, tf.src
	authorized := func() string { tr, _ := tf.authorized(t); return tr.ID }
	downloading, stored := authorized(), authorized()
	f.drain(t)
	// where the killed worker left them
	if _, err := f.db.Pool.Exec(ctx, `update transfer set status = case when id = $1 then 'downloading' else 'stored' end
		where id in ($1, $2)`, downloading, stored); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{downloading, stored} {
		task, q, _ := f.task(t, "transfer_id", id)
		if q != worker.QueueFetch {
			t.Fatalf("fetch task in queue %q", q)
		}
		if err := f.inspector.ArchiveTask(q, task); err != nil {
			t.Fatal(err)
		}
	}
	revokedBefore := len(src.Revoked())

	f.sweep(t, worker.Stalled{Type: worker.TypeTransferFetch, Task: worker.NewFetchTask, Unfinished: st.Unfinished, GiveUp: svc.GiveUp})

	got, err := st.Get(ctx, downloading)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != transfer.StatusFailed || got.Failure != transfer.ReasonInternal || got.Retry != transfer.RetrySame {
		t.Fatalf("transfer left downloading: %s %s retry %q; want failed, internal, retry same", got.Status, got.Failure, got.Retry)
	}
	got, err = st.Get(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != transfer.StatusDone {
		t.Fatalf("transfer left stored: %s (%s), want done", got.Status, got.FailureDetail)
	}
	if n := len(src.Revoked()) - revokedBefore; n != 1 {
		t.Fatalf("%d tokens revoked at the source, want the stored transfer's one", n)
	}
}
