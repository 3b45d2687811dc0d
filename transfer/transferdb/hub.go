package transferdb

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hub fans PostgreSQL notifications of transfer changes (LISTEN pgo_transfer) out
// to the progress streams of this process. One connection per process serves
// every open progress page; because the NOTIFY is sent by whichever process made
// the change (server or worker), any number of server processes see every change.
type Hub struct {
	url string
	log *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]bool
}

// NewHub returns a hub that listens on the database at url (store.DB.URL).
func NewHub(url string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{url: url, log: log, subs: map[string]map[chan struct{}]bool{}}
}

// Subscribe returns a channel that receives a value after each change of the
// transfer (changes close together may arrive as one), and the function that
// ends the subscription.
func (h *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[id] == nil {
		h.subs[id] = map[chan struct{}]bool{}
	}
	h.subs[id][ch] = true
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[id], ch)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
		h.mu.Unlock()
	}
}

// Run listens until ctx ends, reconnecting after a lost connection (every
// subscriber is then woken, since changes may have been missed meanwhile).
func (h *Hub) Run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("transfer hub: listening failed; reconnecting", "err", err, "in", wait.String())
		h.wakeAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

func (h *Hub) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, h.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen "+Channel); err != nil {
		return err
	}
	h.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		h.wake(n.Payload)
	}
}

func (h *Hub) wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (h *Hub) wakeAll() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.wake(id)
	}
}
