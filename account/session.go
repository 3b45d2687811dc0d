package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
)

// Stage is how far a browser session got (ASVS 5.0 V7: a session is only
// authenticated after both factors).
type Stage string

const (
	StageAnon Stage = "anon" // a visitor: carries the CSRF token of the login form
	StageMFA  Stage = "mfa"  // password accepted, second factor pending
	StageFull Stage = "full" // logged in
)

// mfaWindow bounds how long the second factor may take after the password.
const mfaWindow = 5 * time.Minute

// Session is a server-side session. Only the SHA-256 of its id is stored, so a
// database dump does not yield usable cookies.
type Session struct {
	IDHash    []byte
	AccountID string // empty for StageAnon
	Stage     Stage
	Role      Role
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute end
	// FailedBefore is how many failed login attempts the account had since its
	// previous login when this session began: the owner is told (issue 15).
	FailedBefore int
}

// ErrNoSession is returned for a missing, expired or unknown session; the caller
// shows the login page.
var ErrNoSession = pgo.NewError(pgo.EUNAUTHORIZED, "error.reason.no_session", "Please log in.")

// newSessionID returns 256 random bits, base64url: the value of the cookie.
func newSessionID() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	return id, hashID(id), nil
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// CSRFToken is the synchronizer token for forms of this session: an HMAC of a
// fixed label under the session id, so it changes whenever the id rotates and
// needs no storage (OWASP CSRF cheat sheet, "synchronizer token pattern").
func CSRFToken(sessionID string) string {
	m := hmac.New(sha256.New, []byte(sessionID))
	m.Write([]byte("pgo-csrf-v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF compares token with the session's token in constant time.
func CheckCSRF(sessionID, token string) bool {
	if sessionID == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(CSRFToken(sessionID)), []byte(token)) == 1
}

// newSession writes a session row and returns its id (the cookie value).
func (s *Service) newSession(ctx context.Context, tx Tx, a *Account, stage Stage, now time.Time) (string, *Session, error) {
	return s.newSessionTelling(ctx, tx, a, stage, now, 0)
}

// newSessionTelling is newSession for a session that tells its owner of
// failedBefore failed login attempts since the previous login.
func (s *Service) newSessionTelling(ctx context.Context, tx Tx, a *Account, stage Stage, now time.Time, failedBefore int) (string, *Session, error) {
	id, h, err := newSessionID()
	if err != nil {
		return "", nil, err
	}
	sess := &Session{IDHash: h, Stage: stage, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.AbsoluteTimeout),
		FailedBefore: failedBefore}
	if a != nil {
		sess.AccountID, sess.Role = a.ID, a.Role
	}
	if stage == StageMFA {
		sess.ExpiresAt = now.Add(mfaWindow)
	}
	return id, sess, tx.CreateSession(ctx, sess)
}

// anonPerIP is how many visitor sessions one network may start per IPWindow, as
// a multiple of IPLimit: showing the form is more frequent than submitting it
// (several people behind one NAT), but without a bound every GET of the login
// page from a client that drops its cookie writes a row (review finding).
const anonPerIP = 10

// StartAnonymous creates a visitor session, so that the login form has a CSRF
// token tied to a server-side session. At most anonPerIP*IPLimit are started per
// client network (ipKey) per IPWindow; beyond that ErrTooManyAttempts is
// returned, audited once per window.
func (s *Service) StartAnonymous(ctx context.Context, c Client) (string, error) {
	var id string
	var fail error
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.clock()
		if c.IP != "" {
			limit := anonPerIP * s.cfg.IPLimit
			n, err := tx.Hit(ctx, "anon-ip:"+ipKey(c.IP), now.Truncate(s.cfg.IPWindow))
			if err != nil {
				return err
			}
			if n > limit {
				fail = ErrTooManyAttempts
				if n > limit+1 {
					return nil
				}
				return tx.Audit(ctx, s.event(audit.ActLoginFailed, audit.Failure, "rate_limited_visitor", "", "", c))
			}
		}
		var err error
		id, _, err = s.newSession(ctx, tx, nil, StageAnon, now)
		return err
	})
	if err != nil {
		return "", err
	}
	return id, fail
}

// touchEvery is how much time must pass before Session writes last_seen again:
// a sixtieth of the idle timeout (15 s of 15 minutes). Between writes a busy
// session's idle clock keeps running from the last one, so it can end at most
// that much sooner than the idle timeout after its last request, never later;
// in return a page and its status polls cost one read each instead of a read and
// a write (round 10 of BENCHMARKS.md).
func (s *Service) touchEvery() time.Duration { return s.cfg.IdleTimeout / 60 }

// Session returns the live session for the cookie value id and records the
// activity (at most every touchEvery). A session past its idle timeout or its
// absolute end is deleted and ErrNoSession returned.
func (s *Service) Session(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, ErrNoSession
	}
	// Most requests only read: a live session whose last_seen is recent enough
	// costs one round trip, without a transaction. A session to touch or to
	// end takes the locked path below, which reads it again.
	sess, err := s.store.PeekSession(ctx, hashID(id))
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if now := s.clock(); s.alive(now, sess) && now.Sub(sess.LastSeen) < s.touchEvery() {
		return sess, nil
	}
	var out *Session
	var fail error
	err = s.store.InTx(ctx, func(tx Tx) error {
		sess, now, err := s.live(ctx, tx, id)
		if err != nil {
			fail = err
			return nil
		}
		if now.Sub(sess.LastSeen) >= s.touchEvery() {
			if err := tx.TouchSession(ctx, sess.IDHash, now); err != nil {
				return err
			}
			sess.LastSeen = now
		}
		out = sess
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, fail
}

// live loads the session and applies the timeouts; an expired one is deleted.
func (s *Service) live(ctx context.Context, tx Tx, id string) (*Session, time.Time, error) {
	now := s.clock()
	sess, err := tx.SessionByHash(ctx, hashID(id))
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return nil, now, ErrNoSession
	}
	if err != nil {
		return nil, now, err
	}
	if !s.alive(now, sess) {
		if err := tx.DeleteSession(ctx, sess.IDHash); err != nil {
			return nil, now, err
		}
		return nil, now, ErrNoSession
	}
	return sess, now, nil
}

// alive reports whether sess is within its idle timeout and its absolute end at now.
func (s *Service) alive(now time.Time, sess *Session) bool {
	return now.Sub(sess.LastSeen) <= s.cfg.IdleTimeout && now.Before(sess.ExpiresAt)
}

// Logout ends this session (an unknown one is not an error).
func (s *Service) Logout(ctx context.Context, id string, c Client) error {
	return s.logout(ctx, id, c, false)
}

// LogoutEverywhere ends every session of the account behind id (ASVS 5.0 V7.4.2).
func (s *Service) LogoutEverywhere(ctx context.Context, id string, c Client) error {
	return s.logout(ctx, id, c, true)
}

func (s *Service) logout(ctx context.Context, id string, c Client, all bool) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		sess, err := tx.SessionByHash(ctx, hashID(id))
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteSession(ctx, sess.IDHash); err != nil {
			return err
		}
		if sess.AccountID == "" {
			return nil
		}
		details := map[string]string{"scope": "session"}
		if all {
			n, err := tx.DeleteAccountSessions(ctx, sess.AccountID)
			if err != nil {
				return err
			}
			details = map[string]string{"scope": "everywhere", "other_sessions": itoa(n)}
		}
		ev := s.event(audit.ActLogout, audit.Success, "", sess.AccountID, sess.Role, c)
		ev.Details = details
		return tx.Audit(ctx, ev)
	})
}

// event builds an audit event about a login-related action of account id.
func (s *Service) event(act audit.Action, out audit.Outcome, reason, accountID string, role Role, c Client) audit.Event {
	ev := audit.Event{
		Time: s.clock(), Action: act, Outcome: out, Reason: reason,
		PersonID: accountID, ActorType: audit.ActorUser, ActorID: accountID,
		ObjectType: "account", ObjectID: accountID,
		SourceIP: c.IP, UserAgent: c.UserAgent, RequestID: c.RequestID, CorrelationID: c.CorrelationID,
	}
	if role == RoleAuditor {
		ev.ActorType = audit.ActorAuditor
		ev.PersonID = ""
	}
	if accountID == "" {
		ev.ActorID, ev.ObjectType = "unknown", ""
	}
	return ev
}
