package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

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

// enrolWindow is how long a new authenticator may wait for its confirmation
// after the current factor was proved: an enrolment left half-done must not
// stay open for whoever later sits at a logged-in browser (ASVS 5.0 V6.4.3).
const enrolWindow = 10 * time.Minute

// ErrEnrolmentElsewhere answers a session that did not begin the pending
// enrolment: only the session that proved the current factor may see or
// confirm the new seed. It is ENOTFOUND (not visible to the caller), so the
// enrolment page offers to start again with the current code.
var ErrEnrolmentElsewhere = pgo.NewError(pgo.ENOTFOUND, "error.reason.no_enrolment",
	"the new authenticator is being set up in another session; start again here with the code of your current app")

// ErrEnrolmentExpired answers an enrolment not confirmed within enrolWindow; it
// has been discarded.
var ErrEnrolmentExpired = pgo.NewError(pgo.ENOTFOUND, "error.reason.no_enrolment",
	"the new authenticator was not confirmed within 10 minutes; start again with the code of your current app")

// errNothingPending is PendingEnrolment's answer when no enrolment is pending.
var errNothingPending = pgo.Errorf(pgo.ENOTFOUND, "no new authenticator is being set up")

// BeginEnrolment makes a new TOTP seed for the logged-in account behind sessionID
// and keeps it pending, bound to this session for enrolWindow; the old
// authenticator keeps working until the new one is confirmed with a code (so a
// half-finished enrolment never locks anybody out).
// When an authenticator is active, current must be its code or a recovery code:
// a live session alone (a borrowed, unlocked computer) may not replace the
// factor (ASVS 5.0 V6.4.3, V7.5.1). A wrong code counts towards the lockout like
// a failed login; when it locks the account, every session ends and ErrNoSession
// is returned. It returns the otpauth:// URI to show (and to draw as a QR code).
func (s *Service) BeginEnrolment(ctx context.Context, sessionID, current string, c Client) (string, error) {
	release, err := s.codeSlot(ctx, current)
	if err != nil {
		return "", err
	}
	defer release()
	var uri string
	var fail error
	err = s.withAccount(ctx, sessionID, func(tx Tx, sess *Session, a *Account) error {
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
		a.TOTPPendingSession, a.TOTPPendingAt = sess.IDHash, s.clock()
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
// failed attempt (and may lock the account); an empty one is not an attempt, and
// the code of the step just used (most often the login's, typed again) is
// refused without counting, as at the login.
// A recovery code needs the hash slot (codeSlot), taken before the transaction.
func (s *Service) reauthenticate(ctx context.Context, tx Tx, a *Account, code string, c Client) (string, error) {
	if strings.TrimSpace(code) == "" {
		return "", nil
	}
	now := s.clock()
	method, res, err := s.checkCode(ctx, tx, a, code, now)
	if err != nil {
		return "", err
	}
	switch res {
	case codeReplayed: // the login's code typed again: refused, not a guess
		return "", s.replayed(ctx, tx, a, c)
	case codeWrong:
		return "", s.failure(ctx, tx, a, audit.ActMFAFailed, "bad_code_enrolment", now, c)
	}
	a.Failures = 0
	return method, tx.SaveLoginState(ctx, a)
}

// PendingEnrolment returns the URI of the pending seed to the session that began
// it, within enrolWindow. ENOTFOUND when there is none (errNothingPending), when
// another session began it (ErrEnrolmentElsewhere, left alone) or when it
// expired (ErrEnrolmentExpired, discarded).
func (s *Service) PendingEnrolment(ctx context.Context, sessionID string) (string, error) {
	var uri string
	var fail error
	err := s.withAccount(ctx, sessionID, func(tx Tx, sess *Session, a *Account) error {
		seed, refused, err := s.openPending(ctx, tx, sess, a, s.clock())
		if err != nil || refused != nil {
			fail = refused
			return err
		}
		uri = EnrolmentURI(s.cfg.Issuer, a.Name, seed)
		return nil
	})
	if err != nil {
		return "", err
	}
	if errors.Is(fail, ErrNoPendingEnrolment) {
		fail = errNothingPending
	}
	return uri, fail
}

// ConfirmEnrolment switches to the pending seed when code matches it, replaces the
// recovery codes and returns the new ones (shown once). Only the session that
// began the enrolment may confirm it, within enrolWindow. Every other session of
// the account ends (ASVS 5.0 V7.4.3: after a change of authentication factor,
// whoever may have held the old one is logged out); this one continues under a
// new id.
//
// The session, the pending seed and the code are checked first; only then are
// the new recovery codes hashed (ten argon2id runs, in a hash slot and outside
// any transaction), and the switch is made if the same seed is still pending
// (compare-and-set: a concurrent confirmation or a new start wins).
func (s *Service) ConfirmEnrolment(ctx context.Context, sessionID, code string, c Client) (Confirmed, error) {
	seed, step, err := s.checkEnrolmentCode(ctx, sessionID, code)
	if err != nil {
		return Confirmed{}, err
	}
	codes, hashes, err := s.freshRecoveryCodes(ctx)
	if err != nil {
		return Confirmed{}, err
	}
	var fail error
	var out Confirmed
	err = s.withAccount(ctx, sessionID, func(tx Tx, sess *Session, a *Account) error {
		out, fail = Confirmed{}, nil
		again, refused, err := s.openPending(ctx, tx, sess, a, s.clock())
		if err != nil || refused != nil {
			fail = refused
			return err
		}
		if subtle.ConstantTimeCompare(again, seed) != 1 { // started again meanwhile
			fail = ErrNoPendingEnrolment
			return nil
		}
		out.SessionID, out.Session, err = s.switchSeed(ctx, tx, sess, a, seed, step, hashes, c)
		return err
	})
	if err != nil {
		return Confirmed{}, err
	}
	if fail != nil {
		return Confirmed{}, fail
	}
	out.Codes = codes
	return out, nil
}

// Confirmed is a confirmed new authenticator: the recovery codes to show once,
// and the session's new id (the cookie must follow) and state.
type Confirmed struct {
	Codes     []string
	SessionID string
	Session   *Session
}

// checkEnrolmentCode returns the pending seed of the session's account and the
// time step of code when code matches it (ErrEnrolCode when not). It writes
// nothing but the discarding of an expired enrolment.
func (s *Service) checkEnrolmentCode(ctx context.Context, sessionID, code string) ([]byte, int64, error) {
	var seed []byte
	var step int64
	var fail error
	err := s.withAccount(ctx, sessionID, func(tx Tx, sess *Session, a *Account) error {
		now := s.clock()
		var err error
		seed, fail, err = s.openPending(ctx, tx, sess, a, now)
		if err != nil || fail != nil {
			return err
		}
		var ok bool
		if step, ok = VerifyTOTP(seed, code, now, 0); !ok {
			fail = ErrEnrolCode
		}
		return nil
	})
	if err == nil {
		err = fail
	}
	if err != nil {
		return nil, 0, err
	}
	return seed, step, nil
}

// switchSeed makes seed the active one, stores the new recovery codes (the old
// ones go), audits and ends the account's other sessions.
func (s *Service) switchSeed(ctx context.Context, tx Tx, sess *Session, a *Account, seed []byte, step int64, hashes [][]byte, c Client) (string, *Session, error) {
	var err error
	// sealed again: the active seed is bound to another object id
	if a.TOTPSealed, err = s.sealSeed(TOTPObjectID(a.ID), seed); err != nil {
		return "", nil, err
	}
	a.TOTPLastStep = step
	a.TOTPPendingSealed, a.TOTPPendingSession, a.TOTPPendingAt = nil, nil, time.Time{}
	if err := tx.SaveTOTP(ctx, a); err != nil {
		return "", nil, err
	}
	if err := tx.AddRecoveryCodes(ctx, a.ID, hashes, true); err != nil {
		return "", nil, err
	}
	ev := s.event(audit.ActMFAEnrolled, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"step": "confirmed"}
	if err := tx.Audit(ctx, ev); err != nil {
		return "", nil, err
	}
	return s.endOtherSessions(ctx, tx, sess, a, c)
}

// openPending opens the account's pending seed for sess at now. refused is the
// answer when sess may not have it: ErrNoPendingEnrolment (none),
// ErrEnrolmentElsewhere (another session began it; left for that one) or
// ErrEnrolmentExpired (older than enrolWindow, or from before enrolments were
// bound to a session: discarded here, so the caller must commit tx).
func (s *Service) openPending(ctx context.Context, tx Tx, sess *Session, a *Account, now time.Time) (seed []byte, refused, err error) {
	switch {
	case len(a.TOTPPendingSealed) == 0:
		return nil, ErrNoPendingEnrolment, nil
	case a.TOTPPendingAt.IsZero() || now.Sub(a.TOTPPendingAt) > enrolWindow:
		a.TOTPPendingSealed, a.TOTPPendingSession, a.TOTPPendingAt = nil, nil, time.Time{}
		return nil, ErrEnrolmentExpired, tx.SaveTOTP(ctx, a)
	case subtle.ConstantTimeCompare(a.TOTPPendingSession, sess.IDHash) != 1:
		return nil, ErrEnrolmentElsewhere, nil
	}
	seed, err = s.openSeed(PendingTOTPObjectID(a.ID), a.TOTPPendingSealed)
	return seed, nil, err
}

// freshRecoveryCodes makes a new set of recovery codes and their hashes (ten
// argon2id runs) in a hash slot, so that confirmations cannot exhaust memory
// beside the logins (hashslot.go).
func (s *Service) freshRecoveryCodes(ctx context.Context) ([]string, [][]byte, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	codes, err := NewRecoveryCodes()
	if err != nil {
		return nil, nil, err
	}
	hashes, err := hashRecoveryCodes(codes, s.cfg.Argon2)
	if err != nil {
		return nil, nil, err
	}
	return codes, hashes, nil
}

// endOtherSessions ends every other session of the account, gives sess a new
// id (rotateAlone) and audits it as a logout of the other sessions. It returns
// the new id and session.
func (s *Service) endOtherSessions(ctx context.Context, tx Tx, sess *Session, a *Account, c Client) (string, *Session, error) {
	id, next, others, err := s.rotateAlone(ctx, tx, a, sess, s.clock())
	if err != nil {
		return "", nil, err
	}
	ev := s.event(audit.ActLogout, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"scope": "other_sessions", "cause": "mfa_enrolled", "other_sessions": itoa(others), "session": "rotated"}
	return id, next, tx.Audit(ctx, ev)
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
