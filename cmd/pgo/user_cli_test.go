package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

func TestUserCommands(t *testing.T) {
	vars := map[string]string{
		"PGO_KEYSET_FILE":       vaulttest.Keyset(t),
		"PGO_DATABASE_URL":      storetest.Schema(t),
		"PGO_ARGON2_MEMORY_KIB": "19456",
		"PGO_ARGON2_TIME":       "1",
		"PGO_INSTANCE_NAME":     "PGO Noord",
	}
	const secret = "een-lang-wachtwoord-7"
	qr := filepath.Join(t.TempDir(), "qr.png")

	code, out, errOut := runCLI(t, vars, secret+"\n", "user", "add", "jan", "--qr", qr)
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "otpauth://totp/PGO%20Noord:jan?") || strings.Count(out, "\n  ") != 10 {
		t.Fatalf("add output lacks the URI or 10 recovery codes:\n%s", out)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatal("the password was echoed")
	}
	b, err := os.ReadFile(qr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("QR file is not a PNG: %v", err)
	}
	if code, _, errOut := runCLI(t, vars, secret+"\n", "user", "add", "--role", "auditor", "eva"); code != 0 {
		t.Fatalf("add auditor: %s", errOut)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"password as argument", "", []string{"user", "add", "kees", secret}, 2, "exactly one NAME"},
		{"no password", "", []string{"user", "add", "kees"}, 2, "standard input"},
		{"bad role", secret, []string{"user", "add", "kees", "--role", "admin"}, 2, "role"},
		{"duplicate", secret, []string{"user", "add", "jan"}, 1, "already exists"},
		{"short password", "kort", []string{"user", "add", "kees"}, 1, "at least 12"},
		{"bad name", secret, []string{"user", "add", "Kees de Vries"}, 1, "name: use 2-64"},
		{"lock unknown", "", []string{"user", "lock", "nobody"}, 1, "no account"},
		{"unknown sub", "", []string{"user", "delete", "jan"}, 2, "unknown subcommand"},
		{"list with args", "", []string{"user", "list", "x"}, 2, "no arguments"},
	} {
		code, out, errOut := runCLI(t, vars, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want %d and %q", tc.name, code, errOut, out, tc.code, tc.want)
		}
	}

	if code, out, errOut := runCLI(t, vars, "", "user", "lock", "jan"); code != 0 || !strings.Contains(out, "locked") {
		t.Fatalf("lock: %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, vars, "", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "eva ") || !strings.Contains(lines[1], "auditor") ||
		!strings.Contains(lines[2], "locked") {
		t.Fatalf("list:\n%s", out)
	}
}
