package account

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// Unlock lifts both kinds of lock on account name: the operator's (Lock) and the
// temporary one after too many failed attempts; the failure count starts again
// at zero. It is audited like Lock. Without it an operator could lock an account
// but never let its owner in again (issue 13).
func (s *Service) Unlock(ctx context.Context, name string, c Client) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		a, err := tx.AccountByName(ctx, name)
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return pgo.Errorf(pgo.ENOTFOUND, "name: no account %q", name)
		}
		if err != nil {
			return err
		}
		a.Disabled, a.Failures, a.LockedUntil = false, 0, time.Time{}
		if err := tx.SaveLoginState(ctx, a); err != nil {
			return err
		}
		return tx.Audit(ctx, s.adminEvent(audit.ActAccountUnlocked, a, c))
	})
}
