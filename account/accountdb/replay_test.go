package accountdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
)

// loginState is the account's counters as stored.
type loginState struct {
	failures, failedSinceLogin int
	locked                     bool
}

func (f *fixture) loginState(t *testing.T, name string) loginState {
	t.Helper()
	var st loginState
	err := f.db.Pool.QueryRow(context.Background(), `select failures, failed_since_login,
		coalesce(locked_until > $2, false) from accounts where name = $1`, name, f.clock.now()).
		Scan(&st.failures, &st.failedSinceLogin, &st.locked)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fullSessions counts the account's logged-in sessions.
func (f *fixture) fullSessions(t *testing.T, name string) int {
	t.Helper()
	var n int
	err := f.db.Pool.QueryRow(context.Background(), `select count(*) from sessions s join accounts a on a.id = s.account_id
		where a.name = $1 and s.stage = 'full'`, name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// count is how many times want occurs in got.
func count(got []string, want string) int {
	n := 0
	for _, g := range got {
		if g == want {
			n++
		}
	}
	return n
}

// Review finding: the second factor submitted twice with the same right code
// (a double click, a browser retry) logs in once; the other submission is
// refused as a replay, audited as mfa_failed:totp_replayed, and counted
// neither towards the lockout nor as a failed attempt told to the owner. Done
// MaxFailures+1 times in a row it must not lock the owner out, nor must one
// code sent MaxFailures+1 times (retries, several tabs), which used to.
func TestTOTPDoubleSubmitNotCounted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		concurrent bool
		delay      time.Duration // before each repeated submission
		copies     int           // submissions of each code, each from its own half-logged-in session
	}{
		{"one after the other", false, 0, 2},
		{"retried in the next step", false, 30 * time.Second, 2},
		{"at once", true, 0, 2},
		{"sent MaxFailures+1 times", false, 0, testCfg.MaxFailures + 1},
		{"sent MaxFailures+1 times at once", true, 0, testCfg.MaxFailures + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, testCfg)
			secret, _ := f.enrol(t, "jan", account.RolePatient)
			rounds := testCfg.MaxFailures + 1
			for i := 0; i < rounds; i++ {
				f.clock.add(30 * time.Second) // a fresh step for each login
				f.submitSameCode(t, secret, i, tc.copies, tc.concurrent, tc.delay)
			}
			if st := f.loginState(t, "jan"); st != (loginState{}) {
				t.Errorf("after %d rounds of %d submissions: %+v; want no failures counted and not locked", rounds, tc.copies, st)
			}
			if n := f.fullSessions(t, "jan"); n != rounds {
				t.Errorf("%d logged-in sessions after %d rounds; want %d", n, rounds, rounds)
			}
			got := f.auditActions(t)
			want := rounds * (tc.copies - 1)
			if n := count(got, "mfa_failed:totp_replayed"); n != want || slices.Contains(got, "mfa_failed:bad_code") ||
				slices.Contains(got, "lockout") {
				t.Errorf("audit %v; want %d mfa_failed:totp_replayed, no bad_code, no lockout", got, want)
			}
			// The owner logs in as usual and is told of no failed attempts.
			f.clock.add(30 * time.Second)
			if _, _, _, sess := f.loginFrom(t, "jan", secret, cli); sess.FailedBefore != 0 {
				t.Errorf("owner told of %d failed attempts; want 0", sess.FailedBefore)
			}
		})
	}
}

// submitSameCode sends the current step's code from copies half-logged-in
// sessions, at once or one after the other with delay before each repeat, and
// checks that exactly one logs in and the others stay at the code step.
func (f *fixture) submitSameCode(t *testing.T, secret []byte, round, copies int, concurrent bool, delay time.Duration) {
	t.Helper()
	ctx := context.Background()
	code := account.TOTPCode(secret, account.TOTPStep(f.clock.now()))
	ids := make([]string, copies)
	for j := range ids {
		ids[j] = f.password(t, "jan")
	}
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for j, id := range ids {
		if !concurrent {
			if j > 0 {
				f.clock.add(delay)
			}
			_, _, errs[j] = f.svc.SecondFactor(ctx, id, code, cli)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[j] = f.svc.SecondFactor(ctx, id, code, cli)
		}()
	}
	wg.Wait()
	wins := 0
	for j, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, account.ErrLoginFailed):
			// refused, and not logged in: still waiting for a code
			if s, err := f.svc.Session(ctx, ids[j]); err != nil || s.Stage != account.StageMFA {
				t.Errorf("round %d: a refused session: %+v, %v; want it still at the code step", round, s, err)
			}
		default:
			t.Errorf("round %d: %v", round, err)
		}
	}
	if wins != 1 {
		t.Fatalf("round %d: %d of %d submissions of one code logged in (%v); want 1", round, wins, copies, errs)
	}
}

// Control for TestTOTPDoubleSubmitNotCounted: only the code of the step just
// used is spared. A wrong code, and the code of a step before the one used
// (still within the ±1 window), count as before, and MaxFailures of them lock
// the account.
func TestTOTPWrongCodeStillCounts(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	f.login(t, "jan", secret)
	used := account.TOTPStep(f.clock.now())
	window := []string{account.TOTPCode(secret, used-1), account.TOTPCode(secret, used), account.TOTPCode(secret, used+1)}
	wrong := "000000"
	for i := 1; slices.Contains(window, wrong); i++ {
		wrong = fmt.Sprintf("%06d", i) // not one of the window's codes
	}
	codes := []string{account.TOTPCode(secret, used-1), wrong, wrong}
	for i, code := range codes {
		if _, _, err := f.svc.SecondFactor(ctx, f.password(t, "jan"), code, cli); !errors.Is(err, account.ErrLoginFailed) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i == len(codes)-1 {
			break
		}
		if st, want := f.loginState(t, "jan"), (loginState{failures: i + 1, failedSinceLogin: i + 1}); st != want {
			t.Fatalf("after attempt %d: %+v; want %+v", i, st, want)
		}
	}
	if st := f.loginState(t, "jan"); !st.locked {
		t.Errorf("after %d wrong codes: %+v; want locked", len(codes), st)
	}
	got := f.auditActions(t)
	if count(got, "mfa_failed:bad_code") != len(codes) || !slices.Contains(got, "lockout") ||
		slices.Contains(got, "mfa_failed:totp_replayed") {
		t.Errorf("audit %v; want %d mfa_failed:bad_code and a lockout", got, len(codes))
	}
}

// password runs the password step and returns the half-logged-in session.
func (f *fixture) password(t *testing.T, name string) string {
	t.Helper()
	id, err := f.svc.Password(context.Background(), "", name, pw, cli)
	if err != nil {
		t.Fatalf("password step: %v", err)
	}
	return id
}
