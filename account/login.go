package account

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// ErrLoginFailed is the one answer to a wrong name, password or code, and to a
// locked account: the caller cannot tell which, so accounts cannot be enumerated
// (ASVS 5.0 V6.3.8). The lock itself is in the audit log.
var ErrLoginFailed = pgo.NewError(pgo.EUNAUTHORIZED, "login.failed",
	"The login details are not correct, or logging in is blocked for a while. Check them and try again later.")

// ErrTooManyAttempts is the per-IP throttle (ASVS 5.0 V6.3.1); it says nothing
// about any account.
var ErrTooManyAttempts = pgo.NewError(pgo.ERATELIMIT, "login.rate_limited",
	"Too many login attempts from your network. Wait a few minutes and try again.")

// Password is step 1 of the login (the functional design's step 1): it checks name
// and password and, when right, replaces the caller's session (oldID, may be empty)
// by a new one at StageMFA. The returned id is the new cookie value.
func (s *Service) Password(ctx context.Context, oldID, name, password string, c Client) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	var newID string
	var fail error
	err = s.store.InTx(ctx, func(tx Tx) error {
		now := s.clock()
		if limited, err := s.throttle(ctx, tx, c, now); err != nil || limited {
			fail = ErrTooManyAttempts
			return err
		}
		a, err := tx.AccountByName(ctx, strings.ToLower(strings.TrimSpace(name)))
		if pgo.ErrorCode(err) == pgo.ENOTFOUND || (err == nil && a.PasswordHash == "") {
			_, _ = VerifyPassword(s.dummyHash, password) // same cost as a real check
			fail = ErrLoginFailed
			return tx.Audit(ctx, s.event(audit.ActLoginFailed, audit.Failure, "unknown_account", "", "", c))
		}
		if err != nil {
			return err
		}
		src := ipKey(c.IP)
		srcFailures, blockedUntil, err := tx.SourceFailures(ctx, a.ID, src)
		if err != nil {
			return err
		}
		if blockedUntil.After(now) { // this source must wait; others need not
			_, _ = VerifyPassword(s.dummyHash, password) // same cost, same answer
			fail = ErrLoginFailed
			return tx.Audit(ctx, s.event(audit.ActLoginFailed, audit.Failure, "source_delayed", a.ID, a.Role, c))
		}
		ok, err := VerifyPassword(a.PasswordHash, password)
		if err != nil {
			return err
		}
		if a.Locked(now) {
			fail = ErrLoginFailed
			return tx.Audit(ctx, s.event(audit.ActLoginFailed, audit.Failure, lockReason(a), a.ID, a.Role, c))
		}
		if !ok {
			fail = ErrLoginFailed
			return s.passwordFailure(ctx, tx, a, audit.ActLoginFailed, src, srcFailures+1, now, c)
		}
		if err := tx.ClearSourceFailures(ctx, a.ID, src); err != nil {
			return err
		}
		if err := dropSession(ctx, tx, oldID); err != nil {
			return err
		}
		newID, _, err = s.newSession(ctx, tx, a, StageMFA, now)
		return err
	})
	if err != nil {
		return "", err
	}
	return newID, fail
}

// SecondFactor is step 2: a TOTP code (RFC 6238) or a recovery code for the
// StageMFA session id. On success the session id rotates (ASVS 5.0 V7.2.4): the old
// one is deleted and a StageFull session returned.
func (s *Service) SecondFactor(ctx context.Context, id, code string, c Client) (string, *Session, error) {
	release, err := s.codeSlot(ctx, code)
	if err != nil {
		return "", nil, err
	}
	defer release()
	var newID string
	var sess *Session
	var fail error
	err = s.store.InTx(ctx, func(tx Tx) error {
		old, now, err := s.live(ctx, tx, id)
		if err != nil || old.Stage != StageMFA {
			fail = ErrNoSession
			return nil
		}
		if limited, err := s.throttle(ctx, tx, c, now); err != nil || limited {
			fail = ErrTooManyAttempts
			return err
		}
		a, err := tx.AccountByID(ctx, old.AccountID)
		if err != nil {
			return err
		}
		if a.Locked(now) {
			fail = ErrLoginFailed
			if err := tx.DeleteSession(ctx, old.IDHash); err != nil {
				return err
			}
			return tx.Audit(ctx, s.event(audit.ActMFAFailed, audit.Failure, lockReason(a), a.ID, a.Role, c))
		}
		method, res, err := s.checkCode(ctx, tx, a, code, now)
		if err != nil {
			return err
		}
		switch res {
		case codeReplayed:
			fail = ErrLoginFailed
			return s.replayed(ctx, tx, a, c)
		case codeWrong:
			fail = ErrLoginFailed
			return s.failure(ctx, tx, a, audit.ActMFAFailed, "bad_code", now, c)
		}
		newID, sess, err = s.complete(ctx, tx, a, old, "password+"+method, now, c)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return newID, sess, fail
}

// complete ends a successful two-factor login: the failure count is reset, the
// half-logged-in session replaced by a new, full one, and the login audited.
func (s *Service) complete(ctx context.Context, tx Tx, a *Account, old *Session, method string, now time.Time, c Client) (string, *Session, error) {
	failedBefore := a.FailedSinceLogin
	a.Failures, a.FailedSinceLogin = 0, 0
	if err := tx.SaveLoginState(ctx, a); err != nil {
		return "", nil, err
	}
	if err := tx.DeleteSession(ctx, old.IDHash); err != nil {
		return "", nil, err
	}
	newID, sess, err := s.newSessionTelling(ctx, tx, a, StageFull, now, failedBefore)
	if err != nil {
		return "", nil, err
	}
	ev := s.event(audit.ActLogin, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"method": method, "count_failed_before": strconv.Itoa(failedBefore)}
	return newID, sess, tx.Audit(ctx, ev)
}

// checkCode accepts a TOTP code whose step is newer than the last one used (and
// records it), or an unused recovery code (and uses it up). The code of the
// step last used, sent again, is codeReplayed: refused, and SecondFactor does
// not count it (replayed). The caller holds a hash slot for a recovery code
// (codeSlot): it costs up to ten argon2id checks.
func (s *Service) checkCode(ctx context.Context, tx Tx, a *Account, code string, now time.Time) (string, codeResult, error) {
	code = strings.TrimSpace(code)
	if isRecoveryCode(code) {
		stored, err := tx.UnusedRecoveryCodes(ctx, a.ID)
		if err != nil {
			return "recovery_code", codeWrong, err
		}
		h := matchRecoveryCode(stored, a.ID, code)
		if h == nil {
			return "recovery_code", codeWrong, nil
		}
		ok, err := tx.UseRecoveryCode(ctx, a.ID, h, now)
		if err != nil || !ok {
			return "recovery_code", codeWrong, err
		}
		return "recovery_code", codeAccepted, nil
	}
	seed, err := s.openSeed(TOTPObjectID(a.ID), a.TOTPSealed)
	if err != nil {
		return "totp", codeWrong, err
	}
	step, res := matchTOTP(seed, code, now, a.TOTPLastStep)
	if res == codeAccepted {
		a.TOTPLastStep = step
	}
	return "totp", res, nil
}

// replayed refuses the code of the TOTP step last used, sent again: a double
// click, or a browser that retries, after the first submission logged in. It
// is no guess (whoever sends it knew a valid code), so unlike failure it
// counts towards no lockout and is not told to the owner as a failed attempt;
// it is only audited. It still never logs in (RFC 6238 §5.2).
func (s *Service) replayed(ctx context.Context, tx Tx, a *Account, c Client) error {
	return tx.Audit(ctx, s.event(audit.ActMFAFailed, audit.Failure, "totp_replayed", a.ID, a.Role, c))
}

// passwordFailure counts a wrong password against the account and the source
// it came from. After MaxFailures from one source, that source waits before
// its next try for this account: 30 s, then twice as long after each further
// failure, at most LockoutDuration. The account itself is never locked by wrong
// passwords, so a stranger who knows the user name cannot keep the owner out
// (issue 15, finding 5); the owner, from their own source, logs in as usual and
// is told of the failed attempts. act is what is audited: a failed login, or a
// refused password change (a wrong current password counts the same).
func (s *Service) passwordFailure(ctx context.Context, tx Tx, a *Account, act audit.Action, src string, n int, now time.Time, c Client) error {
	var until time.Time
	if n >= s.cfg.MaxFailures {
		until = now.Add(sourceDelay(n-s.cfg.MaxFailures, s.cfg.LockoutDuration))
	}
	if err := tx.SetSourceFailures(ctx, a.ID, src, n, until); err != nil {
		return err
	}
	a.FailedSinceLogin++
	if err := tx.SaveLoginState(ctx, a); err != nil {
		return err
	}
	ev := s.event(act, audit.Failure, "bad_password", a.ID, a.Role, c)
	if !until.IsZero() {
		ev.Details = map[string]string{"source_delayed_until": until.UTC().Format(time.RFC3339)}
	}
	return tx.Audit(ctx, ev)
}

// sourceDelay is the wait after the k-th failure past the limit (k >= 0):
// 30 s doubling each time, capped.
func sourceDelay(k int, max time.Duration) time.Duration {
	d := 30 * time.Second
	for ; k > 0 && d < max; k-- {
		d *= 2
	}
	return min(d, max)
}

// failure counts a wrong second factor. Only someone who knew the password can
// cause one, so after MaxFailures the account itself is locked for
// LockoutDuration (a TOTP code must not be guessable from many sources) and the
// owner is told at the next login.
func (s *Service) failure(ctx context.Context, tx Tx, a *Account, act audit.Action, reason string, now time.Time, c Client) error {
	a.FailedSinceLogin++
	a.Failures++
	locked := a.Failures >= s.cfg.MaxFailures
	if locked {
		a.Failures = 0
		a.LockedUntil = now.Add(s.cfg.LockoutDuration)
	}
	if err := tx.SaveLoginState(ctx, a); err != nil {
		return err
	}
	if err := tx.Audit(ctx, s.event(act, audit.Failure, reason, a.ID, a.Role, c)); err != nil {
		return err
	}
	if !locked {
		return nil
	}
	if _, err := tx.DeleteAccountSessions(ctx, a.ID); err != nil {
		return err
	}
	ev := s.event(audit.ActLockout, audit.Success, "", a.ID, a.Role, c)
	ev.Details = map[string]string{"until": a.LockedUntil.Format(time.RFC3339)}
	return tx.Audit(ctx, ev)
}

// throttle counts the attempt against the client's IP and reports whether it
// is over the limit. The first attempt over it is audited, with the window's
// end; the ones after it in the same window are refused without a record each
// (the counter holds how many), so a client hammering the login cannot grow
// the audit log at will.
func (s *Service) throttle(ctx context.Context, tx Tx, c Client, now time.Time) (bool, error) {
	if c.IP == "" {
		return false, nil
	}
	window := now.Truncate(s.cfg.IPWindow)
	n, err := tx.Hit(ctx, "login-ip:"+ipKey(c.IP), window)
	if err != nil {
		return false, err
	}
	over, limit := n-s.cfg.IPLimit, "ip"
	if wide, ok := audit.SiteKey(c.IP); ok && over <= 0 {
		// An IPv6 /48 holds 65,536 /64s, each with its own counter above: the
		// network the attempts come from is counted as well, with room for
		// many subscribers behind it.
		m, err := tx.Hit(ctx, "login-net:"+wide, window)
		if err != nil {
			return false, err
		}
		over, limit = m-s.cfg.IPLimit*wideNetFactor, "network"
	}
	if over <= 0 {
		return false, nil
	}
	if over > 1 {
		return true, nil
	}
	ev := s.event(audit.ActLoginFailed, audit.Failure, "rate_limited", "", "", c)
	ev.Details = map[string]string{audit.DetailQuota: window.Add(s.cfg.IPWindow).UTC().Format(time.RFC3339), "limit": limit}
	return true, tx.Audit(ctx, ev)
}

// wideNetFactor is how many times the per-address limit (IPLimit) the attempts
// of one IPv6 /48 may add up to in a window.
const wideNetFactor = 16

// ipKey is the throttle's key for a client address: an IPv4 address as it is,
// an IPv6 address by its /64 network (ASVS 5.0 V6.3.1; audit.SourceKey).
func ipKey(ip string) string { return audit.SourceKey(ip) }

func dropSession(ctx context.Context, tx Tx, id string) error {
	if id == "" {
		return nil
	}
	err := tx.DeleteSession(ctx, hashID(id))
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return nil
	}
	return err
}

func lockReason(a *Account) string {
	if a.Disabled {
		return "account_disabled"
	}
	return "account_locked"
}

func itoa(n int) string { return strconv.Itoa(n) }
