package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
)

// TypeExportRender renders one export job as PDF/A and stores it sealed (issue 7;
// source role of gegevensdienst 51). One task per job, enqueued through the outbox
// with the outbox id as TaskID, so a double enqueue renders once.
const TypeExportRender = "export:render"

// Render task limits: a large dossier (~10,000 resources) renders in seconds, so ten
// minutes per attempt is generous and still frees a stuck worker; five retries cover
// a database or Redis outage of several minutes (asynq's back-off).
const (
	RenderTimeout  = 10 * time.Minute
	RenderMaxRetry = 5
)

// RenderPayload is the payload of TypeExportRender: only the job id, the job row
// holds the rest (and no health data travels through Redis).
type RenderPayload struct {
	JobID string `json:"job_id"`
}

// NewRenderTask is the outbox task that renders job jobID.
func NewRenderTask(jobID string) store.Task {
	b, _ := json.Marshal(RenderPayload{JobID: jobID}) // cannot fail for a string field
	return store.Task{Type: TypeExportRender, Payload: b, MaxRetry: RenderMaxRetry, Timeout: RenderTimeout}
}

// Renderer renders export jobs (export.Jobs).
type Renderer interface {
	Render(ctx context.Context, jobID string) error
	// GiveUp fails a job after its last attempt failed with a transient error.
	GiveUp(ctx context.Context, jobID string) error
}

// HandleRenderTask returns the handler of TypeExportRender. A bad payload or a
// permanent failure (export.ErrPermanent: invalid dossier data, unknown job; the job
// is then failed with its reason) wraps asynq.SkipRetry; any other error is returned
// so that asynq retries the task.
func HandleRenderTask(r Renderer) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var p RenderPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("%s: payload is not JSON: %v: %w", TypeExportRender, err, asynq.SkipRetry)
		}
		if _, err := uuid.Parse(p.JobID); err != nil {
			return fmt.Errorf("%s: job_id is not a UUID: %w", TypeExportRender, asynq.SkipRetry)
		}
		err := r.Render(ctx, p.JobID)
		switch {
		case errors.Is(err, export.ErrPermanent):
			return fmt.Errorf("%s: job %s: %v: %w", TypeExportRender, p.JobID, err, asynq.SkipRetry)
		case err != nil && lastAttempt(ctx) && !requeued(ctx):
			// a fresh context: ctx may be the one whose deadline just passed
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if gerr := r.GiveUp(gctx, p.JobID); gerr != nil {
				return fmt.Errorf("%s: job %s: %w (and recording the failure: %v)", TypeExportRender, p.JobID, err, gerr)
			}
		}
		return err
	}
}

// requeued reports whether the handler's context was cancelled rather than
// timed out: asynq cancels it when the worker shuts down after the shutdown
// timeout, once it has put the task back in its queue. The task then runs
// again, so this attempt was not its last, whatever the retry count says, and
// it must not fail the job or transfer (the requeued run would find it failed
// and do nothing: the work would be lost).
func requeued(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// lastAttempt reports whether asynq will not retry the running task again.
func lastAttempt(ctx context.Context) bool {
	retried, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && retried >= maxRetry
}
