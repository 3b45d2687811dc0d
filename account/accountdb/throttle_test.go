package accountdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
)

// The per-network login throttle (ASVS 5.0 V6.3.1) and how it is audited.

func TestIPRateLimit(t *testing.T) {
	cfg := testCfg
	cfg.IPLimit = 3
	f := setup(t, cfg)
	ctx := context.Background()
	f.enrol(t, "jan", account.RolePatient)
	for i := 0; i < 3; i++ {
		f.svc.Password(ctx, "", "nobody", pw, cli)
	}
	_, err := f.svc.Password(ctx, "", "jan", pw, cli)
	if !errors.Is(err, account.ErrTooManyAttempts) || pgo.ErrorCode(err) != pgo.ERATELIMIT {
		t.Fatalf("fourth attempt from one IP: %v", err)
	}
	other := cli
	other.IP = "192.0.2.11"
	if _, err := f.svc.Password(ctx, "", "jan", pw, other); err != nil {
		t.Fatalf("other IP throttled: %v", err)
	}
	f.clock.add(cfg.IPWindow)
	if _, err := f.svc.Password(ctx, "", "jan", pw, cli); err != nil {
		t.Fatalf("next window still throttled: %v", err)
	}
	if got := f.auditActions(t); !slices.Contains(got, "login_failed:rate_limited") {
		t.Errorf("throttle not audited: %v", got)
	}
}

// A client hammering the login over the per-IP limit gets one rate_limited
// record per window, naming the window's end, not one per attempt: the audit
// log does not grow with the attacker's request rate.
func TestIPRateLimitAuditedOncePerWindow(t *testing.T) {
	cfg := testCfg
	cfg.IPLimit = 2
	f := setup(t, cfg)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		f.svc.Password(ctx, "", "nobody", pw, cli)
	}
	count := func() (n int, until string) {
		t.Helper()
		err := f.db.Pool.QueryRow(ctx, `select count(*), coalesce(max(details->>'unrecorded_until'), '')
			from audit_log where action = 'login_failed' and reason = 'rate_limited'`).Scan(&n, &until)
		if err != nil {
			t.Fatal(err)
		}
		return n, until
	}
	if n, until := count(); n != 1 || until == "" {
		t.Fatalf("10 attempts over the limit: %d rate_limited records (until %q), want 1 naming the window's end", n, until)
	}
	f.clock.add(cfg.IPWindow)
	for i := 0; i < 5; i++ {
		f.svc.Password(ctx, "", "nobody", pw, cli)
	}
	if n, _ := count(); n != 2 {
		t.Fatalf("the next window over the limit: %d rate_limited records in all, want 2", n)
	}
}

// Fresh addresses in one IPv6 /64 share one throttle counter; another /64 has
// its own.
func TestIPRateLimitIPv6Network(t *testing.T) {
	cfg := testCfg
	cfg.IPLimit = 3
	f := setup(t, cfg)
	ctx := context.Background()
	from := func(ip string) account.Client { c := cli; c.IP = ip; return c }
	for i := 1; i <= 3; i++ {
		f.svc.Password(ctx, "", "nobody", pw, from(fmt.Sprintf("2001:db8:0:1::%x", i)))
	}
	if _, err := f.svc.Password(ctx, "", "nobody", pw, from("2001:db8:0:1:ffff::9")); !errors.Is(err, account.ErrTooManyAttempts) {
		t.Fatalf("fourth attempt from the same /64: %v", err)
	}
	if _, err := f.svc.Password(ctx, "", "nobody", pw, from("2001:db8:0:2::1")); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("another /64: %v; want an ordinary failed login", err)
	}
}

// Rotating through the /64s of one IPv6 /48 (65,536 of them, one customer site)
// does not multiply the attempts: the /48 is counted too, at 16 times the
// per-address limit, and refused past it once per window on the record. Another
// /48 has its own count.
func TestIPRateLimitIPv6Site(t *testing.T) {
	cfg := testCfg
	cfg.IPLimit = 2
	f := setup(t, cfg)
	ctx := context.Background()
	from := func(ip string) account.Client { c := cli; c.IP = ip; return c }
	var limited int
	for i := range 40 { // 40 /64s, one attempt each: 32 within the /48's limit
		if _, err := f.svc.Password(ctx, "", "nobody", pw, from(fmt.Sprintf("2001:db8:77:%x::1", i))); errors.Is(err, account.ErrTooManyAttempts) {
			limited++
		}
	}
	if limited != 8 {
		t.Fatalf("40 attempts from 40 /64s of one /48: %d refused as too many, want 8 (the limit is 16 x 2)", limited)
	}
	if _, err := f.svc.Password(ctx, "", "nobody", pw, from("2001:db8:78::1")); !errors.Is(err, account.ErrLoginFailed) {
		t.Fatalf("another /48: %v; want an ordinary failed login", err)
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'login_failed'
		and reason = 'rate_limited' and details->>'limit' = 'network'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rate_limited records naming the network (%v), want 1", n, err)
	}
}
