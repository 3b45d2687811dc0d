package account

import (
	"context"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// ErrEnrolCode answers a code that does not match the new authenticator.
var ErrEnrolCode = pgo.Errorf(pgo.EINVALID, "code: it does not match the new authenticator; check the time on your phone and try again")

// ErrNoPendingEnrolment answers a confirmation when no new authenticator is
// waiting (already confirmed, or never started).
var ErrNoPendingEnrolment = pgo.NewError(pgo.ECONFLICT, "error.reason.no_enrolment", "no new authenticator is being set up")

// ErrNoAuthenticatorHere answers enrolment for an account that logs in through
// an identity provider: its second factor lives there.
var ErrNoAuthenticatorHere = pgo.NewError(pgo.ECONFLICT, "error.reason.oidc_account",
	"this account logs in through an identity provider and has no authenticator here")

// ErrEnrolCurrentCode answers a missing or wrong code of the current
// authenticator when a new one is requested.
var ErrEnrolCurrentCode = pgo.Errorf(pgo.EINVALID,
	"current_code: enter the code your current app shows now, or one of your recovery codes")

// BeginEnrolment makes a new TOTP seed for the logged-in account behind sessionID
// and keeps it pending; the old authenticator keeps working until the new one is
// confirmed with a code (so a half-finished enrolment never locks anybody out).
// When an authenticator is active, current must be its code or a recovery code:
// a live session alone (a borrowed, unlocked computer) may not replace the
// factor (ASVS 5.0 V6.4.3, V7.5.1). A wrong code counts towards the lockout like
// a failed login; when it locks the account, every session ends and ErrNoSession
// is returned. It returns the otpauth:// URI to show (and to draw as a QR code).
func (s *Service) BeginEnrolment(ctx context.Context, sessionID, current string, c Client) (string, error) {
	var uri string
	var fail error
	err := s.withAccount(ctx, sessionID, func(tx Tx, _ *Session, a *Account) error {
		details := map[string]string{"step": "started"}
		if len(a.TOTPSealed) > 0 {
			method, err := s.reauthenticate(ctx, tx, a, current, c)
			if err != nil || method == "" {
				fail = ErrEnrolCurrentCode
				if a.Locked(s.clock()) {
					fail = ErrNoSession
				}
				return err
			}
			details["method"] = method
		}
		secret, err := NewTOTPSecret()
		if err != nil {
			return err
		}
		if a.TOTPPendingSealed, err = s.sealSeed(PendingTOTPObjectID(a.ID), secret); err != nil {
			return err
		}
		uri = EnrolmentURI(s.cfg.Issuer, a.Name, secret)
		if err := tx.SaveTOTP(ctx, a); err != nil {
			return err
		}
		ev := s.event(audit.ActMFAEnrolled, audit.Success, "", a.ID, a.Role, c)
		ev.Details = details
		return tx.Audit(ctx, ev)
	})
	if err != nil {
		return "", err
	}
	return uri, fail
}

// reauthenticate checks the current authenticator's code (or a recovery code)
// and returns how it was proved; "" when it was not. A wrong code counts as a
// failed attempt (and may lock the account); an empty one is not an attempt.
func (s *Service) reauthenticate(ctx context.Context, tx Tx, a *Account, code string, c Client) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", nil
	}
	now := s.clock()
	method, ok, err := s.checkCode(ctx, tx, a, code, now)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", s.failure(ctx, tx, a, audit.ActMFAFailed, "bad_code_enrolment", now, c)
	}
	a.Failures = 0
	return method, tx.SaveLoginState(ctx, a)
}

// PendingEnrolment returns the URI of the pending seed (ENOTFOUND when there is none).
func (s *Service) PendingEnrolment(ctx context.Context, sessionID string) (string, error) {
	var uri string
	err := s.withAccount(ctx, sessionID, func(tx Tx, _ *Session, a *Account) error {
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
// recovery codes and returns the new ones (shown once). Every other session of
// the account ends (ASVS 5.0 V7.4.3: after a change of authentication factor,
// whoever may have held the old one is logged out); this one stays.
func (s *Service) ConfirmEnrolment(ctx context.Context, sessionID, code string, c Client) ([]string, error) {
	codes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	hashes, err := hashRecoveryCodes(codes, s.cfg.Argon2)
	if err != nil {
		return nil, err
	}
	err = s.withAccount(ctx, sessionID, func(tx Tx, sess *Session, a *Account) error {
		if len(a.TOTPPendingSealed) == 0 {
			return ErrNoPendingEnrolment
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
		if err := tx.AddRecoveryCodes(ctx, a.ID, hashes, true); err != nil {
			return err
		}
		ev := s.event(audit.ActMFAEnrolled, audit.Success, "", a.ID, a.Role, c)
		ev.Details = map[string]string{"step": "confirmed"}
		if err := tx.Audit(ctx, ev); err != nil {
			return err
		}
		return s.endOtherSessions(ctx, tx, sess, a, c)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// endOtherSessions deletes every session of the account but sess, and audits it
// as a logout of the other sessions.
func (s *Service) endOtherSessions(ctx context.Context, tx Tx, sess *Session, a *Account, c Client) error {
	n, err := tx.DeleteAccountSessions(ctx, a.ID)
	if err != nil {
		return err
	}
	if err := tx.CreateSession(ctx, sess); err != nil { // this one stays, unchanged
		return err
	}
	ev := s.event(audit.ActLogout, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"scope": "other_sessions", "cause": "mfa_enrolled", "other_sessions": itoa(n - 1)}
	return tx.Audit(ctx, ev)
}

// withAccount runs fn for the password account of a logged-in session.
func (s *Service) withAccount(ctx context.Context, sessionID string, fn func(Tx, *Session, *Account) error) error {
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
			return ErrNoAuthenticatorHere
		}
		return fn(tx, sess, a)
	})
}
