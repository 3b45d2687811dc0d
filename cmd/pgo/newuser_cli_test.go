package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// The help texts a new operator tripped over (issue 13): each names the right
// command and usage, and `pgo help help` works.
func TestHelpTextsNameTheRightCommand(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		want     string // on stdout or stderr
		dontWant string
	}{
		{[]string{"help", "audit", "verify"}, 0, "usage: pgo audit verify [--from T]", "usage: pgo audit SUBCOMMAND"},
		{[]string{"user", "list", "--help"}, 0, "usage: pgo user list", "--role"},
		{[]string{"help", "user", "list"}, 0, "usage: pgo user list", "NAME"},
		{[]string{"help", "user", "unlock"}, 0, "usage: pgo user unlock NAME", "--qr"},
		{[]string{"user", "add", "--help"}, 0, "usage: pgo user add NAME [--role patient|auditor]", "unlock"},
		{[]string{"help", "help"}, 0, "'pgo help COMMAND' explains a command", "unknown"},
		{[]string{"help", "config"}, 0, "created by pgo keys signing-key --out FILE", "signing key PEM file (created by pgo keys init)"},
	} {
		code, out, errOut := runCLI(t, nil, "", tc.args...)
		all := out + errOut
		if code != tc.code || !strings.Contains(all, tc.want) || strings.Contains(all, tc.dontWant) {
			t.Errorf("pgo %s: exit %d; want %d, %q and not %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, tc.dontWant, all)
		}
	}
}

// `pgo user unlock` lifts an operator's lock and a temporary lock after failed
// logins; `pgo user list` prints a temporary lock's end with its time zone.
func TestUserUnlock(t *testing.T) {
	dbURL := storetest.Schema(t)
	vars := map[string]string{"PGO_KEYSET_FILE": vaulttest.Keyset(t), "PGO_DATABASE_URL": dbURL,
		"PGO_ARGON2_MEMORY_KIB": "19456", "PGO_ARGON2_TIME": "1"}
	if code, _, errOut := runCLI(t, vars, "een-lang-wachtwoord-7\n", "user", "add", "jan"); code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	state := func() string {
		t.Helper()
		code, out, errOut := runCLI(t, vars, "", "user", "list")
		if code != 0 {
			t.Fatalf("list: %s", errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	if code, out, _ := runCLI(t, vars, "", "user", "lock", "jan"); code != 0 || !strings.Contains(out, "pgo user unlock jan") {
		t.Fatalf("lock: %d %s", code, out)
	}
	if got := state(); !strings.Contains(got, "locked") {
		t.Fatalf("after lock: %s", got)
	}
	if code, out, errOut := runCLI(t, vars, "", "user", "unlock", "jan"); code != 0 || !strings.Contains(out, "account jan is unlocked") {
		t.Fatalf("unlock: %d %s %s", code, out, errOut)
	}
	if got := state(); !strings.Contains(got, "active") {
		t.Fatalf("after unlock: %s", got)
	}

	// A temporary lock (as after too many failed logins) shows its end with a zone.
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Pool.Exec(ctx, `update accounts set failures = 5, locked_until = now() + interval '10 minutes' where name = 'jan'`); err != nil {
		t.Fatal(err)
	}
	if got := state(); !regexp.MustCompile(`locked until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:[A-Z]{3,5}|[+-]\d{2,4})`).MatchString(got) {
		t.Fatalf("temporary lock without its zone: %s", got)
	}
	if code, _, errOut := runCLI(t, vars, "", "user", "unlock", "jan"); code != 0 {
		t.Fatalf("unlock: %s", errOut)
	}
	if got := state(); !strings.Contains(got, "active") {
		t.Fatalf("after unlocking a temporary lock: %s", got)
	}
	var failures int
	var unlocked int
	if err := db.Pool.QueryRow(ctx, `select failures from accounts where name = 'jan'`).Scan(&failures); err != nil || failures != 0 {
		t.Errorf("failures after unlock: %d (%v)", failures, err)
	}
	if err := db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'account_unlocked'`).Scan(&unlocked); err != nil || unlocked != 2 {
		t.Errorf("%d account_unlocked audit records, want 2 (%v)", unlocked, err)
	}
	if code, _, errOut := runCLI(t, vars, "", "user", "unlock", "nobody"); code != 1 || !strings.Contains(errOut, "no account") {
		t.Errorf("unlock unknown: %d %s", code, errOut)
	}
}
