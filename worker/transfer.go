package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// TypeTransferFetch fetches the dossier of one transfer from the source PGO (issue
// 12, target role of gegevensdienst 51): list, download, verify, store, revoke. One
// task per authorization, enqueued through the outbox in the transaction that
// stores the token, with the outbox id as TaskID, so a double enqueue fetches once.
const TypeTransferFetch = "transfer:fetch"

// Fetch task limits: one attempt may wait up to PGO_TRANSFER_POLL_TOTAL (10 min by
// default) for a source to render, then download; 20 minutes leaves room for that.
// Three retries cover a worker killed mid-download and a short database outage; a
// source that stays down fails the transfer with "Opnieuw proberen".
const (
	FetchTimeout  = 20 * time.Minute
	FetchMaxRetry = 3
)

// FetchPayload is the payload of TypeTransferFetch: the transfer id only (the token
// stays sealed in PostgreSQL, never in Redis).
type FetchPayload struct {
	TransferID string `json:"transfer_id"`
}

// NewFetchTask is the outbox task that fetches transfer id (transferdb.New takes it).
func NewFetchTask(id string) store.Task {
	b, _ := json.Marshal(FetchPayload{TransferID: id}) // cannot fail for a string field
	return store.Task{Type: TypeTransferFetch, Payload: b, Queue: QueueFetch, MaxRetry: FetchMaxRetry, Timeout: FetchTimeout}
}

// Fetcher runs transfers (transfer.Service).
type Fetcher interface {
	Fetch(ctx context.Context, id string, last bool) error
	GiveUp(ctx context.Context, id string) error
}

// HandleFetchTask returns the handler of TypeTransferFetch. A permanent outcome
// (the transfer failed with its reason, or does not exist) wraps asynq.SkipRetry; a
// passing failure is returned so that asynq retries, and on the last attempt the
// transfer is failed (transfer.Service.Fetch with last, or GiveUp for an error
// outside the transfer such as a lost database).
func HandleFetchTask(f Fetcher) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var p FetchPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("%s: payload is not JSON: %v: %w", TypeTransferFetch, err, asynq.SkipRetry)
		}
		if _, err := uuid.Parse(p.TransferID); err != nil {
			return fmt.Errorf("%s: transfer_id is not a UUID: %w", TypeTransferFetch, asynq.SkipRetry)
		}
		last := lastAttempt(ctx)
		err := f.Fetch(ctx, p.TransferID, last)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, transfer.ErrPermanent):
			return fmt.Errorf("%s: transfer %s: %v: %w", TypeTransferFetch, p.TransferID, err, asynq.SkipRetry)
		case last && !requeued(ctx):
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if gerr := f.GiveUp(gctx, p.TransferID); gerr != nil {
				return fmt.Errorf("%s: transfer %s: %w (and recording the failure: %v)", TypeTransferFetch, p.TransferID, err, gerr)
			}
		}
		return fmt.Errorf("%s: transfer %s: %w", TypeTransferFetch, p.TransferID, err)
	}
}
