package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/config"
)

// The account settings refuse an OIDC issuer over plain http (except on a
// loopback host, for tests) and argon2id memory below 19 MiB, with exit 2 and
// one line naming the setting (review finding).
func TestAccountConfigRefusesWeakSettings(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"PGO_OIDC_ISSUER", "http://login.example"},
		{"PGO_OIDC_ISSUER", "http://10.0.0.5:8080"},
		{"PGO_OIDC_ISSUER", "http://localhost.example"},
		{"PGO_OIDC_ISSUER", "ftp://login.example"},
		{"PGO_OIDC_ISSUER", "login.example"},
		{"PGO_ARGON2_MEMORY_KIB", "19455"},
		{"PGO_ARGON2_MEMORY_KIB", "8192"},
	} {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			code, out, errOut := runCLI(t, map[string]string{c.name: c.value}, "", "migrate")
			if code != 2 {
				t.Fatalf("exit %d; want 2 (stdout %q stderr %q)", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.name) {
				t.Fatalf("stderr %q; want one line naming %s", errOut, c.name)
			}
		})
	}
}

// The lowest accepted values and loopback http issuers load.
func TestAccountConfigAcceptsMinimums(t *testing.T) {
	for _, c := range []struct{ name, value string }{
		{"PGO_OIDC_ISSUER", "https://login.example"},
		{"PGO_OIDC_ISSUER", "http://127.0.0.1:9998"},
		{"PGO_OIDC_ISSUER", "http://[::1]:9998"},
		{"PGO_OIDC_ISSUER", "http://localhost:9998"},
		{"PGO_ARGON2_MEMORY_KIB", "19456"},
	} {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			cfg, err := config.Load("", func(k string) (string, bool) {
				if k == c.name {
					return c.value, true
				}
				return "", false
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(cfg.Account.OIDCIssuer, cfg.Account.Argon2MemoryKiB); !strings.Contains(got, c.value) {
				t.Fatalf("loaded %q; want %s", got, c.value)
			}
		})
	}
}
