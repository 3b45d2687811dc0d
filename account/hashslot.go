package account

import (
	"context"
	"runtime"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// ErrBusy answers a login when every password-check slot stays taken: argon2id is
// memory-hard on purpose (19 MiB a check by default), so an unbounded number at
// once lets a flood of logins from many addresses exhaust the server's memory,
// which the per-IP throttle cannot stop (ASVS 5.0 V6.3.1, found in review).
var ErrBusy = pgo.NewError(pgo.ERATELIMIT, "login.busy", "It is very busy right now. Please try again in a minute.")

func newHashSlots(n int) chan struct{} {
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	return make(chan struct{}, n)
}

// hashSlot waits up to HashQueueWait for a free password-check slot, before the
// login's transaction starts so that no database connection waits with it.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	wait := s.cfg.HashQueueWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
		return func() { <-s.hashSlots }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, pgo.Wrap(pgo.EUNAVAILABLE, ctx.Err(), "The request was cancelled.")
	}
}

// codeSlot takes a hash slot, before the transaction, when code is a recovery
// code: checkCode then runs up to ten argon2id checks (one per unused code),
// which must count against the same bound as passwords. A TOTP code needs none;
// release is then a no-op.
func (s *Service) codeSlot(ctx context.Context, code string) (release func(), err error) {
	if !isRecoveryCode(code) {
		return func() {}, nil
	}
	return s.hashSlot(ctx)
}
