package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
)

type fetchFunc func(ctx context.Context, id string, last bool) error

func (f fetchFunc) Fetch(ctx context.Context, id string, last bool) error { return f(ctx, id, last) }
func (f fetchFunc) GiveUp(context.Context, string) error                  { return nil }

func TestHandleFetchTaskErrors(t *testing.T) {
	id := uuid.NewString()
	for _, c := range []struct {
		name, payload string
		result        error
		skip, err     bool
	}{
		{"ok", `{"transfer_id":"` + id + `"}`, nil, false, false},
		{"not json", `{`, nil, true, true},
		{"not a uuid", `{"transfer_id":"x"}`, nil, true, true},
		{"permanent", `{"transfer_id":"` + id + `"}`, errors.Join(transfer.ErrPermanent, errors.New("failed")), true, true},
		{"passing", `{"transfer_id":"` + id + `"}`, errors.New("source down"), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := worker.HandleFetchTask(fetchFunc(func(_ context.Context, got string, _ bool) error {
				if got != id {
					t.Errorf("fetched %q", got)
				}
				return c.result
			}))
			err := h.ProcessTask(context.Background(), asynq.NewTask(worker.TypeTransferFetch, []byte(c.payload)))
			if (err != nil) != c.err || errors.Is(err, asynq.SkipRetry) != c.skip {
				t.Fatalf("err %v, want error %v, skip %v", err, c.err, c.skip)
			}
		})
	}
	var p worker.FetchPayload
	task := worker.NewFetchTask(id)
	if err := json.Unmarshal(task.Payload, &p); err != nil || p.TransferID != id || task.Timeout == 0 || task.MaxRetry == 0 {
		t.Fatalf("task %+v", task)
	}
}

// transferFixture is a target's transfer service over db against a test source
// serving MedMij's example document over mutual TLS.
type transferFixture struct {
	svc *transfer.Service
	st  *transferdb.Store
	src *transfertest.Source
	doc []byte // the source's PDF
}

func newTransferFixture(t *testing.T, db *store.DB) *transferFixture {
	t.Helper()
	ca := transfertest.NewCA(t)
	raw, _ := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	docRef, _ := os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	src := transfertest.NewSource(t, ca, b.Content, docRef)
	src.Redirect = transfertest.TargetURL + transfer.CallbackPath
	lists := transfertest.Lists(t, src, true)
	v, _ := vaulttest.New(t)
	st := transferdb.New(db, worker.NewFetchTask)
	svc, err := transfer.New(transfer.Config{Store: st, Sealer: v, Lists: lists, Issuer: transfertest.TargetURL,
		HTTP: zal.NewHTTPClient(lists, zal.ClientOptions{TLSConfig: ca.ClientTLS(t, "doel.localhost"), DialContext: zal.DialLocalhost})})
	if err != nil {
		t.Fatal(err)
	}
	return &transferFixture{svc: svc, st: st, src: src, doc: b.Content}
}

// authorized starts a transfer for a new patient and completes its callback
// with a code from the source: the transfer is authorized and its fetch task
// is in the outbox. It returns the transfer and its actor.
func (f *transferFixture) authorized(t *testing.T) (transfer.Transfer, transfer.Actor) {
	t.Helper()
	ctx := context.Background()
	actor := transfer.Actor{UserID: uuid.NewString(), SessionID: "s1"}
	tr, err := f.svc.Start(ctx, actor, "bron@medmij")
	if err != nil {
		t.Fatal(err)
	}
	link, err := f.svc.AuthorizeURL(ctx, actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	code := f.src.IssueCode(u.Query().Get("code_challenge"))
	if _, err := f.svc.HandleCallback(ctx, actor, transfer.Callback{State: u.Query().Get("state"), Code: code, Iss: f.src.URL, HasIss: true}); err != nil {
		t.Fatal(err)
	}
	return tr, actor
}

// The callback's transaction writes the fetch task into the outbox; the real
// worker (relay + asynq on Redis) runs it and the transfer completes once.
func TestTransferThroughWorker(t *testing.T) {
	db := storetest.DB(t)
	f := newTransferFixture(t, db)
	st := f.st
	w, err := worker.New(worker.Options{RedisURL: storetest.Redis(t), DB: db, Concurrency: 2, ShutdownTimeout: 5 * time.Second, OutboxPoll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle(worker.TypeTransferFetch, worker.HandleFetchTask(f.svc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	tr, actor := f.authorized(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := st.Get(ctx, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Final() {
			if got.Status != transfer.StatusDone || got.Attempts != 1 {
				t.Fatalf("%s after %d attempts (%s)", got.Status, got.Attempts, got.FailureDetail)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	docs, err := st.Documents(ctx, actor.UserID, tr.ID)
	if err != nil || len(docs) != 1 || docs[0].Size != int64(len(f.doc)) {
		t.Fatalf("documents %+v, %v", docs, err)
	}
}

// A worker that shuts down while a task's last attempt is still running (the
// handler outlasts the shutdown timeout): asynq puts the task back in its queue
// and then cancels the handler's context. That attempt was not the last, so the
// handler must not give up (fail the transfer or the export): the requeued task
// would find it failed and the work would be lost. Real asynq on Redis, one
// attempt allowed (MaxRetry 0), for the fetch and the render handler.
func TestShutdownDuringLastAttemptGivesNothingUp(t *testing.T) {
	redisURL := storetest.Redis(t)
	ro, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	started, ended := make(chan string, 2), make(chan string, 2)
	var gaveUp []string
	var mu sync.Mutex
	block := func(kind string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			started <- kind
			<-ctx.Done() // a long download or render, cut by the shutdown
			return ctx.Err()
		}
	}
	giveUp := func(kind string) func() {
		return func() { mu.Lock(); gaveUp = append(gaveUp, kind); mu.Unlock() }
	}
	db := storetest.DB(t)
	w, err := worker.New(worker.Options{RedisURL: redisURL, DB: db, Concurrency: 1, FetchConcurrency: 1,
		ShutdownTimeout: 200 * time.Millisecond, OutboxPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fetch, render := block("fetch"), block("render")
	w.Handle(worker.TypeTransferFetch, asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		defer func() { ended <- "fetch" }()
		return worker.HandleFetchTask(lastFetcher{fetch: fetch, giveUp: giveUp("fetch")}).ProcessTask(ctx, task)
	}))
	w.Handle(worker.TypeExportRender, asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		defer func() { ended <- "render" }()
		return worker.HandleRenderTask(lastRenderer{render: render, giveUp: giveUp("render")}).ProcessTask(ctx, task)
	}))
	client := asynq.NewClient(ro)
	defer client.Close()
	fetchTask, renderTask := worker.NewFetchTask(uuid.NewString()), worker.NewRenderTask(uuid.NewString())
	for _, tk := range []struct {
		typ, queue string
		payload    []byte
	}{{worker.TypeTransferFetch, worker.QueueFetch, fetchTask.Payload}, {worker.TypeExportRender, "default", renderTask.Payload}} {
		if _, err := client.Enqueue(asynq.NewTask(tk.typ, tk.payload), asynq.Queue(tk.queue), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	<-started // both last attempts are running
	cancel()  // shut down; the handlers outlast the 200 ms
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-ended
	<-ended
	mu.Lock()
	defer mu.Unlock()
	if len(gaveUp) != 0 {
		t.Fatalf("gave up %v on a shutdown; the tasks are back in their queues and run again", gaveUp)
	}
	inspector := asynq.NewInspector(ro)
	defer inspector.Close()
	for _, q := range []string{worker.QueueFetch, "default"} {
		if pending, err := inspector.ListPendingTasks(q); err != nil || len(pending) != 1 {
			t.Fatalf("queue %s: %d pending, %v; want the requeued task", q, len(pending), err)
		}
	}
}

// lastFetcher and lastRenderer are the handlers' Fetcher and Renderer whose
// work blocks until cancelled and whose GiveUp is counted.
type lastFetcher struct {
	fetch  func(ctx context.Context) error
	giveUp func()
}

func (f lastFetcher) Fetch(ctx context.Context, _ string, _ bool) error { return f.fetch(ctx) }
func (f lastFetcher) GiveUp(context.Context, string) error              { f.giveUp(); return nil }

type lastRenderer struct {
	render func(ctx context.Context) error
	giveUp func()
}

func (r lastRenderer) Render(ctx context.Context, _ string) error { return r.render(ctx) }
func (r lastRenderer) GiveUp(context.Context, string) error       { r.giveUp(); return nil }
