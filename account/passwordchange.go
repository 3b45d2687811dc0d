package account

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// PasswordChange is what the owner typed on the page that changes the password:
// the current password and the new one twice.
type PasswordChange struct {
	Current, New, Repeat string
}

// The refusals of ChangePassword. Each names the field it is about in its
// message and has its own translation key, so the page can show it there.
var (
	ErrCurrentPasswordMissing = pgo.NewError(pgo.EINVALID, "password.current_missing",
		"current_password: enter your current password")
	ErrCurrentPasswordWrong = pgo.NewError(pgo.EINVALID, "password.current_wrong",
		"current_password: this is not your current password")
	// ErrPasswordWait: too many wrong current passwords from this source; it
	// waits as a login from there would (passwordFailure).
	ErrPasswordWait = pgo.NewError(pgo.ERATELIMIT, "password.wait",
		"current_password: too many wrong passwords were entered; wait a few minutes and try again")
	ErrPasswordMismatch = pgo.NewError(pgo.EINVALID, "password.mismatch",
		"repeat_password: the two new passwords are not the same")
	ErrPasswordSame = pgo.NewError(pgo.EINVALID, "password.same",
		"new_password: the new password is the same as the current one")
	ErrPasswordLocked = pgo.NewError(pgo.EFORBIDDEN, "password.locked",
		"this account is locked; its password cannot be changed now")
	// ErrPasswordChangedMeanwhile: the hash the current password was checked
	// against was replaced before the new one could be stored.
	ErrPasswordChangedMeanwhile = pgo.NewError(pgo.ECONFLICT, "password.conflict",
		"current_password: the password was changed meanwhile; enter your current password again")
)

// ChangePassword replaces the password of the account logged in as sessionID
// (ASVS 5.0 V6.2.2, V6.2.3). It checks the form first (current given, the new
// one per CheckPassword, typed twice alike), then, in a hash slot, the current
// password exactly as Password does, with the same per-IP throttle and
// per-source wait: a wrong one counts as a failed login attempt, so this page is
// no faster oracle than the login. On success one transaction stores the new
// hash (compare-and-set on the hash that was verified), ends every other
// session of the account, gives this session a new id (ASVS 5.0 V7.2.4) and
// audits it; the new id and session are returned. A refusal changes nothing but
// its audit record (and, for a wrong password, the failure counts).
func (s *Service) ChangePassword(ctx context.Context, sessionID string, ch PasswordChange, c Client) (string, *Session, error) {
	sess, err := s.Session(ctx, sessionID)
	if err != nil {
		return "", nil, err
	}
	if sess.Stage != StageFull {
		return "", nil, ErrNoSession
	}
	if reason, refused := checkChange(ch); refused != nil {
		return "", nil, s.refuseChange(ctx, sess, reason, refused, c)
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", nil, err
	}
	defer release()
	verified, err := s.verifyCurrent(ctx, sessionID, sess.AccountID, ch, c)
	if err != nil {
		return "", nil, err
	}
	newHash, err := HashPassword(ch.New, s.cfg.Argon2) // in the slot, outside any transaction
	if err != nil {
		return "", nil, err
	}
	return s.storePassword(ctx, sessionID, sess.AccountID, verified, newHash, c)
}

// checkChange is the form's own rules, before any password is hashed.
func checkChange(ch PasswordChange) (reason string, refused error) {
	if ch.Current == "" {
		return "current_missing", ErrCurrentPasswordMissing
	}
	switch err := CheckPassword(ch.New); {
	case errors.Is(err, ErrPasswordTooShort):
		return "too_short", err
	case err != nil:
		return "too_long", err
	}
	if ch.New != ch.Repeat {
		return "mismatch", ErrPasswordMismatch
	}
	return "", nil
}

// refuseChange audits a refused change and returns refused.
func (s *Service) refuseChange(ctx context.Context, sess *Session, reason string, refused error, c Client) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		return tx.Audit(ctx, s.event(audit.ActPasswordChanged, audit.Failure, reason, sess.AccountID, sess.Role, c))
	})
	if err != nil {
		return err
	}
	return refused
}

// changeSession locks the account row, then reads the live session (always in
// that order, so that a change that ends the other sessions and a change in one
// of them queue on the account instead of deadlocking). refused is
// ErrNoSession when the session is gone or not a full login of the account.
func (s *Service) changeSession(ctx context.Context, tx Tx, sessionID, accountID string) (*Account, *Session, error, error) {
	a, err := tx.AccountByID(ctx, accountID)
	if err != nil {
		return nil, nil, nil, err
	}
	sess, _, err := s.live(ctx, tx, sessionID)
	switch {
	case errors.Is(err, ErrNoSession):
		return nil, nil, ErrNoSession, nil
	case err != nil:
		return nil, nil, nil, err
	case sess.Stage != StageFull || sess.AccountID != a.ID:
		return nil, nil, ErrNoSession, nil
	case a.PasswordHash == "":
		return nil, nil, ErrNoAuthenticatorHere, nil
	}
	return a, sess, nil, nil
}

// verifyCurrent checks the current password as the login's password step does
// and returns the hash it matched. The caller holds a hash slot.
func (s *Service) verifyCurrent(ctx context.Context, sessionID, accountID string, ch PasswordChange, c Client) (string, error) {
	var verified string
	var fail error
	err := s.store.InTx(ctx, func(tx Tx) error {
		verified, fail = "", nil
		a, _, refused, err := s.changeSession(ctx, tx, sessionID, accountID)
		if err != nil || refused != nil {
			fail = refused
			return err
		}
		now := s.clock()
		if limited, err := s.throttle(ctx, tx, c, now); err != nil || limited {
			fail = ErrTooManyAttempts
			return err
		}
		src := ipKey(c.IP)
		srcFailures, blockedUntil, err := tx.SourceFailures(ctx, a.ID, src)
		if err != nil {
			return err
		}
		if blockedUntil.After(now) { // this source waits, as it would at the login
			_, _ = VerifyPassword(s.dummyHash, ch.Current) // same cost
			fail = ErrPasswordWait
			return s.auditRefusal(ctx, tx, a, "source_delayed", c)
		}
		ok, err := VerifyPassword(a.PasswordHash, ch.Current)
		if err != nil {
			return err
		}
		switch {
		case a.Locked(now):
			fail = ErrPasswordLocked
			return s.auditRefusal(ctx, tx, a, lockReason(a), c)
		case !ok:
			fail = ErrCurrentPasswordWrong
			return s.passwordFailure(ctx, tx, a, audit.ActPasswordChanged, src, srcFailures+1, now, c)
		}
		if err := tx.ClearSourceFailures(ctx, a.ID, src); err != nil {
			return err
		}
		if ch.New == ch.Current { // the current one was right, so the new one is it
			fail = ErrPasswordSame
			return s.auditRefusal(ctx, tx, a, "same_as_current", c)
		}
		verified = a.PasswordHash
		return nil
	})
	if err == nil {
		err = fail
	}
	return verified, err
}

// storePassword writes newHash in place of verified, ends the account's other
// sessions, rotates this one's id and audits, in one transaction.
func (s *Service) storePassword(ctx context.Context, sessionID, accountID, verified, newHash string, c Client) (string, *Session, error) {
	var newID string
	var out *Session
	var fail error
	err := s.store.InTx(ctx, func(tx Tx) error {
		newID, out, fail = "", nil, nil
		a, sess, refused, err := s.changeSession(ctx, tx, sessionID, accountID)
		if err != nil || refused != nil {
			fail = refused
			return err
		}
		now := s.clock()
		if a.Locked(now) {
			fail = ErrPasswordLocked
			return s.auditRefusal(ctx, tx, a, lockReason(a), c)
		}
		ok, err := tx.SetPasswordHash(ctx, a.ID, verified, newHash)
		if err != nil {
			return err
		}
		if !ok {
			fail = ErrPasswordChangedMeanwhile
			return s.auditRefusal(ctx, tx, a, "changed_meanwhile", c)
		}
		newID, out, err = s.passwordChanged(ctx, tx, a, sess, now, c)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if fail != nil {
		return "", nil, fail
	}
	return newID, out, nil
}

// rotateAlone ends every session of the account and gives sess a new id (its
// start and absolute end stay), keeping a pending enrolment this session began
// bound to it: after the password or the authenticator changed, whoever held
// the old one is logged out and this session is re-authenticated (ASVS 5.0
// V7.2.4, V7.4.3). It returns the new id and session and how many other
// sessions ended; the caller audits.
func (s *Service) rotateAlone(ctx context.Context, tx Tx, a *Account, sess *Session, now time.Time) (string, *Session, int, error) {
	n, err := tx.DeleteAccountSessions(ctx, a.ID)
	if err != nil {
		return "", nil, 0, err
	}
	id, h, err := newSessionID()
	if err != nil {
		return "", nil, 0, err
	}
	next := *sess
	next.IDHash, next.LastSeen = h, now
	if err := tx.CreateSession(ctx, &next); err != nil {
		return "", nil, 0, err
	}
	if len(a.TOTPPendingSession) > 0 && bytes.Equal(a.TOTPPendingSession, sess.IDHash) {
		a.TOTPPendingSession = h
		if err := tx.SaveTOTP(ctx, a); err != nil {
			return "", nil, 0, err
		}
	}
	return id, &next, n - 1, nil
}

// passwordChanged rotates the session alone and audits the change and the
// logout of the other sessions.
func (s *Service) passwordChanged(ctx context.Context, tx Tx, a *Account, sess *Session, now time.Time, c Client) (string, *Session, error) {
	id, next, others, err := s.rotateAlone(ctx, tx, a, sess, now)
	if err != nil {
		return "", nil, err
	}
	ev := s.event(audit.ActPasswordChanged, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"other_sessions": itoa(others), "session": "rotated"}
	if err := tx.Audit(ctx, ev); err != nil {
		return "", nil, err
	}
	out := s.event(audit.ActLogout, audit.Success, "", a.ID, a.Role, c)
	out.Details = map[string]string{"scope": "other_sessions", "cause": "password_changed", "other_sessions": itoa(others)}
	return id, next, tx.Audit(ctx, out)
}

// auditRefusal records a refused change of a's password.
func (s *Service) auditRefusal(ctx context.Context, tx Tx, a *Account, reason string, c Client) error {
	return tx.Audit(ctx, s.event(audit.ActPasswordChanged, audit.Failure, reason, a.ID, a.Role, c))
}
