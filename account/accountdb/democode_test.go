package accountdb_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
)

// DemoCode (`pgo demo totp`) follows the authenticator in the database: after a
// re-enrolment its code is the new app's, never the replaced one's (issue 13: the
// run script printed the first enrolment's secret forever); a step already used
// moves it to the next one, which the login accepts.
func TestDemoCodeFollowsReenrolment(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	oldSecret, _ := f.enrol(t, "jan", account.RolePatient)
	now := f.clock.now()
	if code, err := f.svc.DemoCode(ctx, "jan", now); err != nil || code != account.TOTPCode(oldSecret, account.TOTPStep(now)) {
		t.Fatalf("first enrolment: %q %v", code, err)
	}
	_, _, sid := f.login(t, "jan", oldSecret) // uses the current step
	code, err := f.svc.DemoCode(ctx, "jan", now)
	if err != nil || code != account.TOTPCode(oldSecret, account.TOTPStep(now)+1) {
		t.Fatalf("after a login in this step: %q %v; want the next step's code", code, err)
	}
	uri, err := f.svc.BeginEnrolment(ctx, sid, f.nextCode(oldSecret), cli)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	newSecret, _ := b32decode(u.Query().Get("secret"))
	f.clock.add(30 * time.Second)
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(newSecret, account.TOTPStep(f.clock.now())), cli); err != nil {
		t.Fatal(err)
	}
	f.clock.add(time.Minute)
	now = f.clock.now()
	code, err = f.svc.DemoCode(ctx, "jan", now)
	if err != nil || code == account.TOTPCode(oldSecret, account.TOTPStep(now)) || code != account.TOTPCode(newSecret, account.TOTPStep(now)) {
		t.Fatalf("after re-enrolment: %q %v; want the new app's code", code, err)
	}
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	if _, _, err := f.svc.SecondFactor(ctx, mfa, code, cli); err != nil {
		t.Fatalf("the demo code does not log in: %v", err)
	}
	if _, err := f.svc.DemoCode(ctx, "nobody", now); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("unknown account: %v", err)
	}
}
