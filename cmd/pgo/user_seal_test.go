package main

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// sqlExec runs statements on the test schema behind vars.
func sqlExec(t *testing.T, vars map[string]string, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// accountRow returns the account row as a dump shows it (bytea in hex) and its
// sealed TOTP seed.
func accountRow(t *testing.T, vars map[string]string, name string) (string, []byte) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var text string
	var sealed []byte
	if err := conn.QueryRow(context.Background(), `select a::text, coalesce(totp_sealed, '') from accounts a where name = $1`,
		name).Scan(&text, &sealed); err != nil {
		t.Fatal(err)
	}
	return text, sealed
}

// totpKeyID is the vault key id that wraps the account's TOTP seed.
func totpKeyID(t *testing.T, vars map[string]string, name string) uint32 {
	t.Helper()
	_, sealed := accountRow(t, vars, name)
	id, err := vault.KeyID(sealed)
	if err != nil {
		t.Fatalf("TOTP seed of %s is not a vault ciphertext: %v", name, err)
	}
	return id
}

var secretRE = regexp.MustCompile(`secret=([A-Z2-7]+)`)

// A database dump shows neither the seed `pgo user add` printed nor its bytes.
func TestUserAddSealsTOTPSeed(t *testing.T) {
	vars := map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_ARGON2_MEMORY_KIB": "19456", "PGO_ARGON2_TIME": "1",
		"PGO_KEYSET_FILE": vaulttest.Keyset(t)}
	code, out, errOut := runCLI(t, vars, "een-lang-wachtwoord-7\n", "user", "add", "jan")
	if code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}
	b32 := secretRE.FindStringSubmatch(out)[1]
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	if err != nil {
		t.Fatal(err)
	}
	row, sealed := accountRow(t, vars, "jan")
	for _, form := range []string{b32, strings.ToLower(b32), hex.EncodeToString(seed)} {
		if strings.Contains(row, form) {
			t.Fatalf("the accounts row shows the TOTP seed:\n%s", row)
		}
	}
	if len(sealed) == 0 || strings.Contains(string(sealed), string(seed)) {
		t.Fatal("the TOTP seed is not sealed")
	}
}

func TestUserCommandsNeedKeyset(t *testing.T) {
	schema := storetest.Schema(t)
	for _, tt := range []struct {
		name, keyset string
		args         []string
	}{
		{"add, no keyset", "", []string{"user", "add", "jan"}},
		{"add, missing file", filepath.Join(t.TempDir(), "none.json"), []string{"user", "add", "jan"}},
		{"list, no keyset", "", []string{"user", "list"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"PGO_DATABASE_URL": schema, "PGO_ARGON2_MEMORY_KIB": "19456", "PGO_ARGON2_TIME": "1"}
			if tt.keyset != "" {
				vars["PGO_KEYSET_FILE"] = tt.keyset
			}
			code, out, errOut := runCLI(t, vars, "een-lang-wachtwoord-7\n", tt.args...)
			if code != 2 || !strings.Contains(errOut, "PGO_KEYSET_FILE") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 with one line naming PGO_KEYSET_FILE", code, errOut, out)
			}
		})
	}
}

// A database from before migration 007 holds seeds in the clear: the next pgo user
// command seals them, and the owner still logs in with the same authenticator.
func TestUserSealsClearSeeds(t *testing.T) {
	vars := map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_ARGON2_MEMORY_KIB": "19456", "PGO_ARGON2_TIME": "1",
		"PGO_KEYSET_FILE": vaulttest.Keyset(t)}
	seed := []byte("0123456789abcdefghij")
	if code, _, errOut := runCLI(t, vars, "een-lang-wachtwoord-7\n", "user", "add", "jan"); code != 0 {
		t.Fatal(errOut)
	}
	sqlExec(t, vars, `alter table accounts drop constraint accounts_totp_not_clear`)
	sqlExec(t, vars, `update accounts set totp_secret = $1, totp_sealed = null where name = 'jan'`, seed)
	sqlExec(t, vars, `alter table accounts add constraint accounts_totp_not_clear
		check (totp_secret is null and totp_pending is null) not valid`)

	code, _, errOut := runCLI(t, vars, "", "user", "list")
	if code != 0 || !strings.Contains(errOut, "sealed the TOTP seeds of 1 accounts") {
		t.Fatalf("list: exit %d, stderr %q", code, errOut)
	}
	if row, _ := accountRow(t, vars, "jan"); strings.Contains(row, hex.EncodeToString(seed)) {
		t.Fatalf("seed still in the clear:\n%s", row)
	}
	totpKeyID(t, vars, "jan")
	if code, _, errOut := runCLI(t, vars, "", "user", "list"); code != 0 || errOut != "" {
		t.Fatalf("second list: exit %d, stderr %q", code, errOut)
	}
}
