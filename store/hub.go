package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hub fans the PostgreSQL notifications of one channel (LISTEN) out to the
// waiters in this process, by payload: the id of what changed. One connection per
// process serves every waiter; because the NOTIFY is sent, inside its
// transaction, by whichever process made the change (server or worker), any
// number of processes see every change once it commits. transferdb.Channel
// feeds the transfer progress pages, exportdb.Channel the held Binary reads.
type Hub struct {
	url     string
	channel string
	log     *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]bool
}

// NewHub returns a hub that listens to channel on the database at url (DB.URL).
func NewHub(url, channel string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	return &Hub{url: url, channel: channel, log: log, subs: map[string]map[chan struct{}]bool{}}
}

// Subscribe returns a channel that receives a value after each notification
// with payload id (notifications close together may arrive as one), and the
// function that ends the subscription.
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
// subscriber is then woken, since changes may have been missed meanwhile). The
// wait before a reconnection doubles while connecting fails, up to 10 s, and
// starts again at 100 ms after a connection that was listening.
func (h *Hub) Run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait = 100 * time.Millisecond
		}
		h.log.Warn("notification hub: listening failed; reconnecting", "channel", h.channel, "err", err, "in", wait.String())
		h.wakeAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// listen listens on one connection until it fails; listened reports that it got
// as far as listening.
func (h *Hub) listen(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.Connect(ctx, h.url)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{h.channel}.Sanitize()); err != nil {
		return false, err
	}
	h.wakeAll() // what changed before the LISTEN (at start, or while reconnecting)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
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
