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
	uri, err := f.svc.BeginEnrolment(ctx, sid)
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
	codes, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(newSecret, now), cli)
	if err != nil || len(codes) != 10 {
		t.Fatalf("confirm: %v", err)
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(newSecret, now), cli); pgo.ErrorCode(err) != pgo.ECONFLICT {
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
	anon, _ := f.svc.StartAnonymous(ctx)
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	for _, sid := range []string{"", "unknown", anon, mfa} {
		if _, err := f.svc.BeginEnrolment(ctx, sid); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("BeginEnrolment without a full login: %v", err)
		}
	}
}
