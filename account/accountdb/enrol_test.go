package accountdb_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
)

func TestEnrolNewAuthenticator(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	oldSecret, oldCodes := f.enrol(t, "jan", account.RolePatient)
	_, _, sid := f.login(t, "jan", oldSecret)

	if _, err := f.svc.PendingEnrolment(ctx, sid); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Fatalf("pending before begin: %v", err)
	}
	uri, err := f.svc.BeginEnrolment(ctx, sid, f.nextCode(oldSecret), cli)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.svc.PendingEnrolment(ctx, sid); err != nil || again != uri {
		t.Fatalf("pending: %v", err)
	}
	u, _ := url.Parse(uri)
	newSecret, _ := b32decode(u.Query().Get("secret"))
	now := account.TOTPStep(f.clock.now())
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(oldSecret, now), cli); !errors.Is(err, account.ErrEnrolCode) {
		t.Fatalf("old authenticator's code confirmed the new one: %v", err)
	}
	enr, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(newSecret, now), cli)
	if err != nil || len(enr.Codes) != 10 {
		t.Fatalf("confirm: %v", err)
	}
	// re-authenticated with the new factor: the session continues under a new
	// id, and the old id is no session any more (ASVS 5.0 V7.2.4)
	if _, err := f.svc.Session(ctx, sid); !errors.Is(err, account.ErrNoSession) {
		t.Fatalf("the session's old id after the new authenticator: %v; want ErrNoSession", err)
	}
	if got, err := f.svc.Session(ctx, enr.SessionID); err != nil || enr.SessionID == sid || got.Stage != account.StageFull {
		t.Fatalf("the session's new id: %v", err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, enr.SessionID, account.TOTPCode(newSecret, now), cli); pgo.ErrorCode(err) != pgo.ECONFLICT {
		t.Fatalf("second confirm: %v", err)
	}

	f.clock.add(time.Minute)
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	if _, _, err := f.svc.SecondFactor(ctx, mfa, account.TOTPCode(oldSecret, account.TOTPStep(f.clock.now())), cli); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("old authenticator still works: %v", err)
	}
	if _, _, err := f.svc.SecondFactor(ctx, mfa, oldCodes[0], cli); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("old recovery code still works: %v", err)
	}
	f.login(t, "jan", newSecret)
	if got := f.auditActions(t); !slices.Contains(got, "mfa_enrolled") {
		t.Fatalf("audit: %v", got)
	}
}

func TestEnrolNeedsFullLogin(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	f.enrol(t, "jan", account.RolePatient)
	anon, _ := f.svc.StartAnonymous(ctx, cli)
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	for _, sid := range []string{"", "unknown", anon, mfa} {
		if _, err := f.svc.BeginEnrolment(ctx, sid, "", cli); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("BeginEnrolment without a full login: %v", err)
		}
	}
}

// A live session alone may not replace the authenticator: the current app's
// code (or a recovery code) is asked first, and wrong ones count towards the
// lockout (review finding, ASVS 5.0 V6.4.3). The login's code typed again is
// refused too, but is no guess: it does not count, however often (MaxFailures
// is 3).
func TestEnrolNeedsCurrentCode(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, codes := f.enrol(t, "jan", account.RolePatient)
	_, _, sid := f.login(t, "jan", secret)
	used := account.TOTPCode(secret, account.TOTPStep(f.clock.now()))
	for _, tc := range []struct{ name, code string }{{"empty", " "}, {"wrong", "000000"},
		{"replayed", used}, {"replayed again", used}, {"replayed a third time", used}} {
		if _, err := f.svc.BeginEnrolment(ctx, sid, tc.code, cli); !errors.Is(err, account.ErrEnrolCurrentCode) {
			t.Errorf("%s code: %v; want ErrEnrolCurrentCode", tc.name, err)
		}
		if _, err := f.svc.PendingEnrolment(ctx, sid); pgo.ErrorCode(err) != pgo.ENOTFOUND {
			t.Fatalf("%s code started an enrolment: %v", tc.name, err)
		}
	}
	if _, err := f.svc.BeginEnrolment(ctx, sid, codes[0], cli); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	got := f.auditActions(t)
	want := []string{"mfa_failed:bad_code_enrolment", "mfa_failed:totp_replayed", "mfa_failed:totp_replayed", "mfa_failed:totp_replayed", "mfa_enrolled"}
	if n := len(got); n < len(want) || !slices.Equal(got[n-len(want):], want) {
		t.Fatalf("audit %v; want it to end with %v", got, want)
	}
}

// Three wrong current codes lock the account and end the session.
func TestEnrolWrongCurrentCodesLock(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	_, _, sid := f.login(t, "jan", secret)
	for i := 1; i <= testCfg.MaxFailures; i++ {
		_, err := f.svc.BeginEnrolment(ctx, sid, "000000", cli)
		want := account.ErrEnrolCurrentCode
		if i == testCfg.MaxFailures {
			want = account.ErrNoSession
		}
		if !errors.Is(err, want) {
			t.Fatalf("attempt %d: %v; want %v", i, err, want)
		}
	}
	if _, err := f.svc.Session(ctx, sid); !errors.Is(err, account.ErrNoSession) {
		t.Fatalf("session after the lockout: %v", err)
	}
}

// Confirming a new authenticator ends every other session of the account (a
// thief's session made with the old factor), keeps this one under a new id, and
// audits it.
func TestEnrolConfirmEndsOtherSessions(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	pietSecret, _ := f.enrol(t, "piet", account.RolePatient)
	_, _, other := f.login(t, "jan", secret)
	f.clock.add(30 * time.Second)
	_, _, sid := f.login(t, "jan", secret)
	_, _, piet := f.login(t, "piet", pietSecret)
	half, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	uri, err := f.svc.BeginEnrolment(ctx, sid, f.nextCode(secret), cli)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	newSecret, _ := b32decode(u.Query().Get("secret"))
	enr, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(newSecret, account.TOTPStep(f.clock.now())), cli)
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"other full session": other, "half-logged-in session": half, "this session's old id": sid} {
		if _, err := f.svc.Session(ctx, id); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("%s survived: %v", name, err)
		}
	}
	for name, id := range map[string]string{"this session (new id)": enr.SessionID, "another account's session": piet} {
		if _, err := f.svc.Session(ctx, id); err != nil {
			t.Errorf("%s ended: %v", name, err)
		}
	}
	got := f.auditActions(t)
	if n := len(got); n < 2 || got[n-2] != "mfa_enrolled" || got[n-1] != "logout" {
		t.Fatalf("audit ends with %v; want mfa_enrolled, logout", got)
	}
}

// A pending new authenticator belongs to the session that proved the current
// one: another logged-in session of the account (a shared, unlocked computer)
// can neither read its secret nor confirm it (review finding; ASVS 5.0 V6.4.3,
// V7.5.1), and it changes nothing for the session that began it.
func TestEnrolOnlyFromBeginningSession(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	a, uri := f.beginEnrolment(t, "jan", secret)
	newSecret := seedOf(t, uri)
	f.clock.add(30 * time.Second)
	_, _, b := f.login(t, "jan", secret) // a fresh full login of the same account
	if got, err := f.svc.PendingEnrolment(ctx, b); !errors.Is(err, account.ErrEnrolmentElsewhere) || got != "" {
		t.Fatalf("session B read the pending enrolment (%q): %v; want ErrEnrolmentElsewhere", got, err)
	}
	code := account.TOTPCode(newSecret, account.TOTPStep(f.clock.now()))
	if enr, err := f.svc.ConfirmEnrolment(ctx, b, code, cli); !errors.Is(err, account.ErrEnrolmentElsewhere) || enr.Codes != nil {
		t.Fatalf("session B confirmed the new authenticator: %v; want ErrEnrolmentElsewhere", err)
	}
	if _, err := f.svc.Session(ctx, a); err != nil {
		t.Fatalf("session A after B's attempt: %v", err)
	}
	if got, err := f.svc.PendingEnrolment(ctx, a); err != nil || got != uri {
		t.Fatalf("session A lost its pending enrolment: %v", err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, a, code, cli); err != nil {
		t.Fatalf("session A confirms: %v", err)
	}
	if _, err := f.svc.Session(ctx, b); !errors.Is(err, account.ErrNoSession) {
		t.Fatalf("session B survived the confirmation: %v", err)
	}
}

// A pending enrolment lives 10 minutes from BeginEnrolment: later, even the
// session that began it is refused, the new seed is discarded and the old
// authenticator stays; within the limit it is confirmed.
func TestEnrolExpires(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  error
	}{
		{"within the limit", 10 * time.Minute, nil},
		{"after the limit", 10*time.Minute + time.Second, account.ErrEnrolmentExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, testCfg)
			ctx := context.Background()
			secret, _ := f.enrol(t, "jan", account.RolePatient)
			a, uri := f.beginEnrolment(t, "jan", secret)
			f.clock.add(tc.after) // within the idle timeout: session A is alive
			code := account.TOTPCode(seedOf(t, uri), account.TOTPStep(f.clock.now()))
			enr, err := f.svc.ConfirmEnrolment(ctx, a, code, cli)
			if !errors.Is(err, tc.want) {
				t.Fatalf("confirm %v after beginning: %v; want %v", tc.after, err, tc.want)
			}
			if tc.want == nil {
				if len(enr.Codes) != 10 {
					t.Fatalf("%d recovery codes", len(enr.Codes))
				}
				return
			}
			if _, err := f.svc.PendingEnrolment(ctx, a); pgo.ErrorCode(err) != pgo.ENOTFOUND || errors.Is(err, account.ErrEnrolmentExpired) {
				t.Fatalf("expired enrolment not discarded: %v", err)
			}
			if _, err := f.svc.Session(ctx, a); err != nil {
				t.Fatalf("session A ended: %v", err)
			}
			f.clock.add(30 * time.Second)
			f.login(t, "jan", secret) // the old authenticator still works
		})
	}
}

// An expired enrolment is refused (and discarded) by PendingEnrolment too: the
// secret is not shown again.
func TestEnrolPendingExpires(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	a, _ := f.beginEnrolment(t, "jan", secret)
	f.clock.add(10*time.Minute + time.Second)
	if got, err := f.svc.PendingEnrolment(ctx, a); !errors.Is(err, account.ErrEnrolmentExpired) || got != "" {
		t.Fatalf("pending after the limit (%q): %v; want ErrEnrolmentExpired", got, err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, a, "123456", cli); !errors.Is(err, account.ErrNoPendingEnrolment) {
		t.Fatalf("confirm after the discard: %v; want ErrNoPendingEnrolment", err)
	}
}

// beginEnrolment logs name (enrolled with secret) in and begins replacing the
// authenticator in that session; it returns the session and the new seed's URI.
func (f *fixture) beginEnrolment(t *testing.T, name string, secret []byte) (sid, uri string) {
	t.Helper()
	_, _, sid = f.login(t, name, secret)
	uri, err := f.svc.BeginEnrolment(context.Background(), sid, f.nextCode(secret), cli)
	if err != nil {
		t.Fatal(err)
	}
	return sid, uri
}
