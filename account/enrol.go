package account

import (
	"context"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// ErrEnrolCode answers a code that does not match the new authenticator.
var ErrEnrolCode = pgo.Errorf(pgo.EINVALID, "code: it does not match the new authenticator; check the time on your phone and try again")

// BeginEnrolment makes a new TOTP seed for the logged-in account behind sessionID
// and keeps it pending; the old authenticator keeps working until the new one is
// confirmed with a code (so a half-finished enrolment never locks anybody out).
// It returns the otpauth:// URI to show (and to draw as a QR code).
func (s *Service) BeginEnrolment(ctx context.Context, sessionID string) (string, error) {
	var uri string
	err := s.withAccount(ctx, sessionID, func(tx Tx, a *Account) error {
		secret, err := NewTOTPSecret()
		if err != nil {
			return err
		}
		if a.TOTPPendingSealed, err = s.sealSeed(PendingTOTPObjectID(a.ID), secret); err != nil {
			return err
		}
		uri = EnrolmentURI(s.cfg.Issuer, a.Name, secret)
		return tx.SaveTOTP(ctx, a)
	})
	return uri, err
}

// PendingEnrolment returns the URI of the pending seed (ENOTFOUND when there is none).
func (s *Service) PendingEnrolment(ctx context.Context, sessionID string) (string, error) {
	var uri string
	err := s.withAccount(ctx, sessionID, func(tx Tx, a *Account) error {
		if len(a.TOTPPendingSealed) == 0 {
			return pgo.Errorf(pgo.ENOTFOUND, "no new authenticator is being set up")
		}
		seed, err := s.openSeed(PendingTOTPObjectID(a.ID), a.TOTPPendingSealed)
		if err != nil {
			return err
		}
		uri = EnrolmentURI(s.cfg.Issuer, a.Name, seed)
		return nil
	})
	return uri, err
}

// ConfirmEnrolment switches to the pending seed when code matches it, replaces the
// recovery codes and returns the new ones (shown once).
func (s *Service) ConfirmEnrolment(ctx context.Context, sessionID, code string, c Client) ([]string, error) {
	codes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.withAccount(ctx, sessionID, func(tx Tx, a *Account) error {
		if len(a.TOTPPendingSealed) == 0 {
			return pgo.Errorf(pgo.ECONFLICT, "no new authenticator is being set up")
		}
		seed, err := s.openSeed(PendingTOTPObjectID(a.ID), a.TOTPPendingSealed)
		if err != nil {
			return err
		}
		step, ok := VerifyTOTP(seed, code, s.clock(), 0)
		if !ok {
			return ErrEnrolCode
		}
		// sealed again: the active seed is bound to another object id
		if a.TOTPSealed, err = s.sealSeed(TOTPObjectID(a.ID), seed); err != nil {
			return err
		}
		a.TOTPPendingSealed, a.TOTPLastStep = nil, step
		if err := tx.SaveTOTP(ctx, a); err != nil {
			return err
		}
		hashes := make([][]byte, len(codes))
		for i, rc := range codes {
			hashes[i] = HashRecoveryCode(a.ID, rc)
		}
		if err := tx.AddRecoveryCodes(ctx, a.ID, hashes, true); err != nil {
			return err
		}
		return tx.Audit(ctx, s.event(audit.ActMFAEnrolled, audit.Success, "", a.ID, a.Role, c))
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// withAccount runs fn for the password account of a logged-in session.
func (s *Service) withAccount(ctx context.Context, sessionID string, fn func(Tx, *Account) error) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		sess, _, err := s.live(ctx, tx, sessionID)
		if err != nil {
			return err
		}
		if sess.Stage != StageFull {
			return ErrNoSession
		}
		a, err := tx.AccountByID(ctx, sess.AccountID)
		if err != nil {
			return err
		}
		if a.PasswordHash == "" {
			return pgo.Errorf(pgo.ECONFLICT, "this account logs in through an identity provider and has no authenticator here")
		}
		return fn(tx, a)
	})
}
