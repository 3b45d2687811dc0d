package account

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// DemoCode returns a TOTP code that account name's current authenticator accepts
// now, for `pgo demo totp` only: the local demo prints it so that nobody needs an
// authenticator app. It reads the seed in the database, so it follows a
// re-enrolment (a copy of the first enrolment went stale: issue 13). The caller
// holds the keyset that seals the seeds, so this opens nothing it could not open
// already. It picks the current time step, or the next one (RFC 6238 allows one
// step of drift, VerifyTOTP) when the current one was used.
func (s *Service) DemoCode(ctx context.Context, name string, now time.Time) (string, error) {
	var code string
	err := s.store.InTx(ctx, func(tx Tx) error {
		a, err := tx.AccountByName(ctx, name)
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return pgo.Errorf(pgo.ENOTFOUND, "name: no account %q", name)
		}
		if err != nil {
			return err
		}
		seed, err := s.openSeed(TOTPObjectID(a.ID), a.TOTPSealed)
		if err != nil {
			return err
		}
		step := TOTPStep(now)
		if step <= a.TOTPLastStep {
			step = a.TOTPLastStep + 1
		}
		if step > TOTPStep(now)+1 {
			return pgo.Errorf(pgo.ECONFLICT, "this account's codes up to the next 30 seconds are used; try again in half a minute")
		}
		code = TOTPCode(seed, step)
		return nil
	})
	return code, err
}
