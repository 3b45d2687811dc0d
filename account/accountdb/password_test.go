package accountdb_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/account/accounttest"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
)

const newPW = "een-nieuwe-wachtzin-7"

// change is a well-formed change from pw to newPW.
var change = account.PasswordChange{Current: pw, New: newPW, Repeat: newPW}

// passwordHash reads the stored hash of account name.
func (f *fixture) passwordHash(t *testing.T, name string) string {
	t.Helper()
	var h string
	if err := f.db.Pool.QueryRow(context.Background(), `select password_hash from accounts where name = $1`, name).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// A change stores the new hash (the old password no longer logs in, the new one
// does), ends every other session of the account, gives this session a new id
// with the same absolute end, and audits both.
func TestChangePassword(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	pietSecret, _ := f.enrol(t, "piet", account.RolePatient)
	_, _, other := f.login(t, "jan", secret)
	_, _, sid := f.login(t, "jan", f.nextSecret(secret)) // this session
	_, _, piet := f.login(t, "piet", pietSecret)
	half, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	before, err := f.svc.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	oldHash := f.passwordHash(t, "jan")

	f.clock.add(time.Minute)
	newID, newSess, err := f.svc.ChangePassword(ctx, sid, change, cli)
	if err != nil {
		t.Fatal(err)
	}
	if newID == "" || newID == sid || newSess == nil || newSess.Stage != account.StageFull {
		t.Fatalf("new session %q %+v", newID, newSess)
	}
	got, err := f.svc.Session(ctx, newID)
	if err != nil || !got.ExpiresAt.Equal(before.ExpiresAt) || !got.CreatedAt.Equal(before.CreatedAt) || got.AccountID != before.AccountID {
		t.Fatalf("rotated session %+v (%v); want the old one's start and end %+v", got, err, before)
	}
	for name, id := range map[string]string{"the old id of this session": sid, "another full session": other,
		"a half-logged-in session": half} {
		if _, err := f.svc.Session(ctx, id); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("%s survived: %v", name, err)
		}
	}
	if _, err := f.svc.Session(ctx, piet); err != nil {
		t.Errorf("another account's session ended: %v", err)
	}
	h := f.passwordHash(t, "jan")
	if h == oldHash || !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, newPW) {
		t.Fatalf("stored hash %q", h)
	}
	f.clock.add(time.Minute)
	if _, err := f.svc.Password(ctx, "", "jan", pw, cli); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("the old password still logs in: %v", err)
	}
	if _, err := f.svc.Password(ctx, "", "jan", newPW, cli); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	acts := f.auditActions(t)
	i := slices.Index(acts, "password_changed")
	if i < 0 || i+1 >= len(acts) || acts[i+1] != "logout" {
		t.Fatalf("audit %v; want password_changed, then logout", acts)
	}
	f.checkChangeRecord(t)
}

// checkChangeRecord checks the success record's NEN 7513 fields, and that it
// holds no password or hash.
func (f *fixture) checkChangeRecord(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var found bool
	err := f.db.WithTx(ctx, func(tx pgx.Tx) error {
		return auditdb.Scan(ctx, tx, audit.Filter{}, func(r *audit.Record) error {
			if r.Action != audit.ActPasswordChanged || r.Outcome != audit.Success {
				return nil
			}
			found = true
			if r.PersonID == "" || r.ActorID != r.PersonID || r.ObjectType != "account" || r.ObjectID != r.PersonID ||
				r.SourceIP != cli.IP || r.RequestID != cli.RequestID || r.Details["other_sessions"] != "2" {
				t.Errorf("record %+v", r)
			}
			for _, v := range append(mapValues(r.Details), r.Reason, r.UserAgent) {
				if strings.Contains(v, pw) || strings.Contains(v, newPW) || strings.Contains(v, "argon2") {
					t.Errorf("the record holds a password or hash: %q", v)
				}
			}
			return nil
		})
	})
	if err != nil || !found {
		t.Fatalf("no password_changed success record (%v)", err)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// nextSecret moves the clock to the next TOTP step, for another login.
func (f *fixture) nextSecret(secret []byte) []byte {
	f.clock.add(30 * time.Second)
	return secret
}

// Every refusal returns its own error, audits its reason, and changes nothing:
// not the hash, not the session.
func TestChangePasswordRefusals(t *testing.T) {
	long := strings.Repeat("x", 129)
	for _, tc := range []struct {
		name   string
		ch     account.PasswordChange
		setup  string // SQL run on jan's row first
		want   error
		reason string
	}{
		{"no current password", account.PasswordChange{New: newPW, Repeat: newPW}, "", account.ErrCurrentPasswordMissing, "current_missing"},
		{"wrong current password", account.PasswordChange{Current: "niet-mijn-wachtwoord", New: newPW, Repeat: newPW}, "", account.ErrCurrentPasswordWrong, "bad_password"},
		{"new one too short", account.PasswordChange{Current: pw, New: "kort-11-tkn", Repeat: "kort-11-tkn"}, "", account.ErrPasswordTooShort, "too_short"},
		{"new one too long", account.PasswordChange{Current: pw, New: long, Repeat: long}, "", account.ErrPasswordTooLong, "too_long"},
		{"the two differ", account.PasswordChange{Current: pw, New: newPW, Repeat: newPW + "!"}, "", account.ErrPasswordMismatch, "mismatch"},
		{"same as current", account.PasswordChange{Current: pw, New: pw, Repeat: pw}, "", account.ErrPasswordSame, "same_as_current"},
		{"disabled account", change, `update accounts set disabled = true`, account.ErrPasswordLocked, "account_disabled"},
		{"locked account", change, `update accounts set locked_until = now() + interval '1 day'`, account.ErrPasswordLocked, "account_locked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, testCfg)
			ctx := context.Background()
			secret, _ := f.enrol(t, "jan", account.RolePatient)
			_, _, other := f.login(t, "jan", secret)
			_, _, sid := f.login(t, "jan", f.nextSecret(secret))
			if tc.setup != "" {
				if _, err := f.db.Pool.Exec(ctx, tc.setup+` where name = 'jan'`); err != nil {
					t.Fatal(err)
				}
			}
			oldHash := f.passwordHash(t, "jan")
			id, sess, err := f.svc.ChangePassword(ctx, sid, tc.ch, cli)
			if !errors.Is(err, tc.want) || id != "" || sess != nil {
				t.Fatalf("%q %+v %v; want %v", id, sess, err, tc.want)
			}
			if pgo.ErrorReason(err) == "" || strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), newPW) {
				t.Errorf("error %q: no translation key, or a password in it", err)
			}
			if h := f.passwordHash(t, "jan"); h != oldHash {
				t.Error("the hash changed")
			}
			for name, id := range map[string]string{"this session": sid, "the other session": other} {
				if _, err := f.svc.Session(ctx, id); err != nil {
					t.Errorf("%s ended: %v", name, err)
				}
			}
			acts := f.auditActions(t)
			if last := acts[len(acts)-1]; last != "password_changed:"+tc.reason {
				t.Errorf("audit ends with %q; want password_changed:%s", last, tc.reason)
			}
		})
	}
}

// Only a full two-factor session may change the password.
func TestChangePasswordNeedsFullLogin(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	f.enrol(t, "jan", account.RolePatient)
	oldHash := f.passwordHash(t, "jan")
	anon, _ := f.svc.StartAnonymous(ctx, cli)
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	for _, sid := range []string{"", "unknown", anon, mfa} {
		if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("ChangePassword without a full login: %v", err)
		}
	}
	if f.passwordHash(t, "jan") != oldHash {
		t.Fatal("the hash changed")
	}
}

// A wrong current password is a failed login attempt from its source: it
// shares the login's counter, so after MaxFailures mixed failures that source
// waits, on this page (even with the right password) and at the login, while
// the owner elsewhere logs in and is told of every failure.
func TestChangePasswordWrongCurrentCountsAsFailedLogin(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	_, _, sid := f.login(t, "jan", secret)
	wrong := account.PasswordChange{Current: "wrong-password-1", New: newPW, Repeat: newPW}
	if _, err := f.svc.Password(ctx, "", "jan", "wrong-password-1", cli); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatal(err)
	}
	for i := 1; i < testCfg.MaxFailures; i++ {
		if _, _, err := f.svc.ChangePassword(ctx, sid, wrong, cli); !errors.Is(err, account.ErrCurrentPasswordWrong) {
			t.Fatalf("wrong current password %d: %v", i, err)
		}
	}
	oldHash := f.passwordHash(t, "jan")
	if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); !errors.Is(err, account.ErrPasswordWait) {
		t.Fatalf("right current password from a delayed source: %v; want ErrPasswordWait", err)
	}
	if _, err := f.svc.Password(ctx, "", "jan", pw, cli); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("login from the delayed source: %v; want ErrLoginFailed", err)
	}
	if f.passwordHash(t, "jan") != oldHash {
		t.Fatal("the hash changed")
	}
	acts := f.auditActions(t)
	if !slices.Contains(acts, "password_changed:source_delayed") || !slices.Contains(acts, "login_failed:source_delayed") ||
		slices.Contains(acts, "lockout") {
		t.Fatalf("audit %v", acts)
	}
	owner := account.Client{IP: "198.51.100.20", UserAgent: "owner"}
	_, _, _, sess := f.loginFrom(t, "jan", f.nextSecret(secret), owner)
	if sess.FailedBefore != testCfg.MaxFailures {
		t.Errorf("owner told of %d failed attempts; want %d", sess.FailedBefore, testCfg.MaxFailures)
	}
	// The wait ends as a login's does: 30 s after the last failure the change
	// goes through.
	f.clock.add(time.Second)
	if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); err != nil {
		t.Fatalf("change after the wait: %v", err)
	}
}

// Every change that checks the current password counts against the per-IP
// login throttle.
func TestChangePasswordCountsAgainstIPThrottle(t *testing.T) {
	cfg := testCfg
	cfg.IPLimit = 3
	f := setup(t, cfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	_, _, sid, _ := f.loginFrom(t, "jan", secret, account.Client{IP: "198.51.100.30"})
	same := account.PasswordChange{Current: pw, New: pw, Repeat: pw}
	for i := 0; i < cfg.IPLimit; i++ {
		if _, _, err := f.svc.ChangePassword(ctx, sid, same, cli); !errors.Is(err, account.ErrPasswordSame) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); !errors.Is(err, account.ErrTooManyAttempts) {
		t.Fatalf("attempt over the limit: %v; want ErrTooManyAttempts", err)
	}
	if _, err := f.svc.Password(ctx, "", "jan", pw, cli); !errors.Is(err, account.ErrTooManyAttempts) {
		t.Fatalf("login over the limit: %v; want ErrTooManyAttempts", err)
	}
}

// Concurrent changes of one account, from different sessions or the same one:
// exactly one wins, the others are refused, and the winner's password is the
// one stored.
func TestChangePasswordConcurrentOneWins(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	_, _, a := f.login(t, "jan", secret)
	_, _, b := f.login(t, "jan", f.nextSecret(secret))
	sessions := []string{a, b, a, b}
	type result struct {
		pw  string
		err error
	}
	results := make(chan result, len(sessions))
	for i, sid := range sessions {
		p := newPW + "-" + string(rune('a'+i))
		go func() {
			_, _, err := f.svc.ChangePassword(ctx, sid, account.PasswordChange{Current: pw, New: p, Repeat: p}, cli)
			results <- result{p, err}
		}()
	}
	var winner string
	var losers []string
	for range sessions {
		r := <-results
		switch {
		case r.err == nil && winner != "":
			t.Fatalf("two changes won: %s and %s", winner, r.pw)
		case r.err == nil:
			winner = r.pw
		case errors.Is(r.err, account.ErrNoSession), errors.Is(r.err, account.ErrPasswordChangedMeanwhile):
			losers = append(losers, r.pw)
		default:
			t.Fatalf("unexpected error: %v", r.err)
		}
	}
	if winner == "" {
		t.Fatal("no change won")
	}
	f.clock.add(time.Minute)
	if _, err := f.svc.Password(ctx, "", "jan", winner, cli); err != nil {
		t.Fatalf("the winner's password: %v", err)
	}
	for _, p := range append(losers, pw) {
		if _, err := f.svc.Password(ctx, "", "jan", p, account.Client{IP: "198.51.100.40"}); !errors.Is(err, account.ErrLoginFailed) {
			t.Fatalf("a loser's (or the old) password logs in: %v", err)
		}
	}
	var changed int
	for _, act := range f.auditActions(t) {
		if act == "password_changed" {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("%d password_changed success records", changed)
	}
}

// The store writes a new hash only over the one that was verified.
func TestSetPasswordHashCompareAndSet(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	f.enrol(t, "jan", account.RolePatient)
	st := accountdb.New(f.db, auditdb.Append)
	verified := f.passwordHash(t, "jan")
	set := func(from, to string) bool {
		t.Helper()
		var ok bool
		err := st.InTx(ctx, func(tx account.Tx) error {
			a, err := tx.AccountByName(ctx, "jan")
			if err != nil {
				return err
			}
			ok, err = tx.SetPasswordHash(ctx, a.ID, from, to)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !set(verified, "$argon2id$first") {
		t.Fatal("the verified hash was not replaced")
	}
	if set(verified, "$argon2id$second") {
		t.Fatal("a stale hash was replaced")
	}
	if h := f.passwordHash(t, "jan"); h != "$argon2id$first" {
		t.Fatalf("hash %q after the stale write", h)
	}
}

// The new hash, the end of the other sessions, the new session id and the audit
// record are one transaction: when the audit record cannot be written, none of
// it happens.
func TestChangePasswordOneTransaction(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	failing := func(ctx context.Context, tx pgx.Tx, ev audit.Event) error {
		if ev.Action == audit.ActPasswordChanged && ev.Outcome == audit.Success {
			return errors.New("audit log unavailable")
		}
		return auditdb.Append(ctx, tx, ev)
	}
	svc, err := account.New(accountdb.New(f.db, failing), f.vault, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	svc.SetClock(f.clock.now)
	f.svc = svc
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	_, _, other := f.login(t, "jan", secret)
	_, _, sid := f.login(t, "jan", f.nextSecret(secret))
	oldHash := f.passwordHash(t, "jan")
	if _, _, err := svc.ChangePassword(ctx, sid, change, cli); err == nil {
		t.Fatal("the change succeeded without its audit record")
	}
	if f.passwordHash(t, "jan") != oldHash {
		t.Fatal("the hash changed without its audit record")
	}
	for name, id := range map[string]string{"this session": sid, "the other session": other} {
		if _, err := svc.Session(ctx, id); err != nil {
			t.Errorf("%s ended without the audit record: %v", name, err)
		}
	}
}

// The form is checked before any hashing, and the current password is checked
// in a hash slot: a bad form is answered while every slot is taken, a good one
// waits for a slot and gets ErrBusy.
func TestChangePasswordHashesInSlot(t *testing.T) {
	f := setup(t, slotCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	f.enrol(t, "piet", account.RolePatient)
	_, _, sid := f.login(t, "jan", secret)
	release := f.holdHashSlot(t, "piet")
	mismatch := account.PasswordChange{Current: pw, New: newPW, Repeat: "iets-anders-dan-dat"}
	if _, _, err := f.svc.ChangePassword(ctx, sid, mismatch, cli); !errors.Is(err, account.ErrPasswordMismatch) {
		t.Errorf("bad form with the slot taken: %v; want ErrPasswordMismatch", err)
	}
	if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); !errors.Is(err, account.ErrBusy) {
		t.Errorf("good form with the slot taken: %v; want ErrBusy", err)
	}
	release()
	if _, _, err := f.svc.ChangePassword(ctx, sid, change, cli); err != nil {
		t.Fatalf("after the slot is free: %v", err)
	}
}

// An account that logs in through an identity provider has no password here:
// there is nothing to change, and nothing is written.
func TestChangePasswordOIDCAccount(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	o := f.oidc(t, "")
	sid, state, code := f.flow(t, o, accounttest.UserSubstantial)
	full, _, err := o.Callback(ctx, sid, state, code, cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ChangePassword(ctx, full, change, cli); !errors.Is(err, account.ErrNoAuthenticatorHere) {
		t.Fatalf("change for an OIDC account: %v; want ErrNoAuthenticatorHere", err)
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `select count(*) from accounts where password_hash is not null`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d accounts with a password (%v)", n, err)
	}
	if _, err := f.svc.Session(ctx, full); err != nil {
		t.Fatalf("the session ended: %v", err)
	}
}
