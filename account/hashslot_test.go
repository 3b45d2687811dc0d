package account

import (
	"context"
	"errors"
	"testing"
	"time"
)

type nopSealer struct{}

func (nopSealer) Seal(_ string, p []byte) ([]byte, error) { return p, nil }
func (nopSealer) Open(_ string, c []byte) ([]byte, error) { return c, nil }

// TestPasswordChecksAreBounded: with every slot taken, a login is refused with
// ErrBusy (429) after HashQueueWait, before it touches the database (the store is
// nil here: reaching it would panic); a freed slot lets the next one in.
func TestPasswordChecksAreBounded(t *testing.T) {
	s, err := New(nil, nopSealer{}, Config{Argon2: Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1},
		MaxConcurrentHashes: 1, HashQueueWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.hashSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Password(context.Background(), "", "someone", "secret", Client{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Password with all slots taken: %v; want ErrBusy", err)
	}
	release()
	again, err := s.hashSlot(context.Background())
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	again()
	if n := cap(newHashSlots(0)); n < 2 {
		t.Fatalf("default slots %d", n)
	}
}
