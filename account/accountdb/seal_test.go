package accountdb_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// rawAccount is the account row as a database dump shows it: every column as text
// (bytea in hex) plus the sealed columns' bytes.
type rawAccount struct {
	text            string
	sealed, pending []byte
}

func (f *fixture) raw(t *testing.T, name string) rawAccount {
	t.Helper()
	var r rawAccount
	err := f.db.Pool.QueryRow(context.Background(), `select a::text, coalesce(totp_sealed, ''), coalesce(totp_pending_sealed, '')
		from accounts a where name = $1`, name).Scan(&r.text, &r.sealed, &r.pending)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// assertNoSeed fails when the row holds seed in any form a dump would show.
func (r rawAccount) assertNoSeed(t *testing.T, seed []byte) {
	t.Helper()
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
	for _, form := range []string{hex.EncodeToString(seed), b32, strings.ToLower(b32), string(seed)} {
		if strings.Contains(r.text, form) {
			t.Fatalf("the accounts row holds the TOTP seed in the clear (%d chars matched)", len(form))
		}
	}
	for _, col := range [][]byte{r.sealed, r.pending} {
		if bytes.Contains(col, seed) {
			t.Fatal("a sealed column holds the seed bytes")
		}
	}
}

func seedOf(t *testing.T, uri string) []byte {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := b32decode(u.Query().Get("secret"))
	if err != nil || len(seed) == 0 {
		t.Fatalf("no seed in the enrolment URI: %v", err)
	}
	return seed
}

func TestSeedsSealedAtRest(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	r := f.raw(t, "jan")
	r.assertNoSeed(t, secret)
	if len(r.sealed) == 0 || len(r.pending) != 0 {
		t.Fatalf("after create: sealed %d bytes, pending %d bytes", len(r.sealed), len(r.pending))
	}
	if id, err := vault.KeyID(r.sealed); err != nil || id != f.vault.PrimaryKeyID() {
		t.Fatalf("seed not a vault ciphertext of the primary key: %d %v", id, err)
	}

	_, _, sid := f.login(t, "jan", secret)
	uri, err := f.svc.BeginEnrolment(ctx, sid, f.nextCode(secret), cli)
	if err != nil {
		t.Fatal(err)
	}
	pending := seedOf(t, uri)
	r = f.raw(t, "jan")
	r.assertNoSeed(t, secret)
	r.assertNoSeed(t, pending)
	if len(r.pending) == 0 {
		t.Fatal("pending seed not stored")
	}
	if _, err := f.svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(pending, account.TOTPStep(f.clock.now())), cli); err != nil {
		t.Fatal(err)
	}
	r = f.raw(t, "jan")
	r.assertNoSeed(t, pending)
	if len(r.pending) != 0 {
		t.Fatal("pending seed kept after confirmation")
	}
	f.clock.add(60e9)
	f.login(t, "jan", pending)
}

// A sealed seed is bound to its account and field: copied elsewhere it does not
// open, so no code verifies, while recovery codes still let the owner in.
func TestMovedSealedSeedDoesNotVerify(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		move string // SQL moving a ciphertext into jan's active seed
	}{
		{"another account's seed", `update accounts set totp_sealed = (select totp_sealed from accounts where name = 'piet') where name = 'jan'`},
		{"jan's own pending seed", `update accounts set totp_sealed = totp_pending_sealed where name = 'jan'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, testCfg)
			janSecret, janCodes := f.enrol(t, "jan", account.RolePatient)
			pietSecret, _ := f.enrol(t, "piet", account.RolePatient)
			_, _, sid := f.login(t, "jan", janSecret)
			uri, err := f.svc.BeginEnrolment(ctx, sid, f.nextCode(janSecret), cli)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.Pool.Exec(ctx, tt.move); err != nil {
				t.Fatal(err)
			}
			f.clock.add(60e9)
			step := account.TOTPStep(f.clock.now())
			for _, seed := range [][]byte{pietSecret, seedOf(t, uri), janSecret} {
				mfa, err := f.svc.Password(ctx, "", "jan", pw, cli)
				if err != nil {
					t.Fatal(err)
				}
				_, sess, err := f.svc.SecondFactor(ctx, mfa, account.TOTPCode(seed, step), cli)
				if sess != nil || pgo.ErrorCode(err) != pgo.EINTERNAL {
					t.Fatalf("moved seed: session %v, error %v; want no session and EINTERNAL", sess, err)
				}
				if strings.Contains(err.Error(), hex.EncodeToString(seed)) {
					t.Fatal("the error shows the seed")
				}
			}
			mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
			if _, _, err := f.svc.SecondFactor(ctx, mfa, janCodes[0], cli); err != nil {
				t.Fatalf("recovery code refused: %v", err)
			}
		})
	}
}

func TestRewrapTOTPAfterRotation(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	sid, uri := f.beginEnrolment(t, "jan", secret)
	oldKey := f.vault.PrimaryKeyID()
	if _, err := vault.RotateKeyset(f.keyset); err != nil {
		t.Fatal(err)
	}
	v2, err := vault.Open(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	st := accountdb.New(f.db, auditdb.Append)
	for _, rewrap := range []func() (int, error){
		func() (int, error) { r, err := st.RewrapTOTP(ctx, v2, "", 10); return r.Moved, err },
		func() (int, error) { r, err := st.RewrapPendingTOTP(ctx, v2, "", 10); return r.Moved, err },
	} {
		if n, err := rewrap(); err != nil || n != 1 {
			t.Fatalf("rewrap moved %d, %v; want 1", n, err)
		}
		if n, err := rewrap(); err != nil || n != 0 {
			t.Fatalf("second rewrap moved %d, %v; want 0", n, err)
		}
	}
	r := f.raw(t, "jan")
	for _, ct := range [][]byte{r.sealed, r.pending} {
		if id, err := vault.KeyID(ct); err != nil || id != v2.PrimaryKeyID() || id == oldKey {
			t.Fatalf("key id after rewrap %d (%v); want %d, not %d", id, err, v2.PrimaryKeyID(), oldKey)
		}
	}
	svc, err := account.New(st, v2, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	svc.SetClock(f.clock.now)
	f.svc = svc
	f.clock.add(60e9)
	// the session that began the enrolment confirms it (only that one may)
	if _, err := svc.ConfirmEnrolment(ctx, sid, account.TOTPCode(seedOf(t, uri), account.TOTPStep(f.clock.now())), cli); err != nil {
		t.Fatalf("pending seed after rewrap: %v", err)
	}
}

// Rows written by migration 004 hold the seed in the clear until SealClearSeeds.
func TestSealClearSeeds(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	secret, _ := f.enrol(t, "jan", account.RolePatient)
	pending := bytes.Repeat([]byte{7}, 20)
	f.enrol(t, "piet", account.RolePatient)
	// make jan's row look like one from before migration 007
	_, err := f.db.Pool.Exec(ctx, `alter table accounts drop constraint accounts_totp_not_clear;
		`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `update accounts set totp_secret = $1, totp_pending = $2, totp_sealed = null
		where name = 'jan'`, secret, pending); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `alter table accounts add constraint accounts_totp_not_clear
		check (totp_secret is null and totp_pending is null) not valid`); err != nil {
		t.Fatal(err)
	}
	mfa, _ := f.svc.Password(ctx, "", "jan", pw, cli)
	if _, _, err := f.svc.SecondFactor(ctx, mfa, account.TOTPCode(secret, account.TOTPStep(f.clock.now())), cli); pgo.ErrorCode(err) != pgo.EINTERNAL {
		t.Fatalf("login on a seed in the clear: %v; want EINTERNAL until it is sealed", err)
	}

	st := accountdb.New(f.db, auditdb.Append)
	if n, err := st.SealClearSeeds(ctx, f.vault); err != nil || n != 1 {
		t.Fatalf("sealed %d, %v; want 1", n, err)
	}
	if n, err := st.SealClearSeeds(ctx, f.vault); err != nil || n != 0 {
		t.Fatalf("second run sealed %d, %v; want 0", n, err)
	}
	r := f.raw(t, "jan")
	r.assertNoSeed(t, secret)
	r.assertNoSeed(t, pending)
	f.login(t, "jan", secret)

	// From migration 007 on nothing may write a seed in the clear.
	_, err = f.db.Pool.Exec(ctx, `update accounts set totp_secret = $1 where name = 'piet'`, secret)
	if err == nil || !strings.Contains(err.Error(), "accounts_totp_not_clear") {
		t.Fatalf("clear seed written: %v", err)
	}
}

func TestNewNeedsSealer(t *testing.T) {
	f := setup(t, testCfg)
	if _, err := account.New(accountdb.New(f.db, auditdb.Append), nil, testCfg); pgo.ErrorCode(err) != pgo.EINTERNAL {
		t.Fatalf("New without a sealer: %v", err)
	}
}
