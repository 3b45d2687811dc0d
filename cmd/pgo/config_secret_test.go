package main

import (
	"strings"
	"testing"
)

// A connection URL that fails validation must not come back with its password in
// the one error line (it goes to the terminal and to the container's log).
func TestBadConfigurationNeverEchoesAPassword(t *testing.T) {
	const secret = "S3cr3tPw"
	cases := []struct{ name, value string }{
		{"PGO_DATABASE_URL", "postgres://pgo:" + secret + "%zz@db.example/pgo"}, // bad escape: url.Parse fails
		{"PGO_DATABASE_URL", "host=db.example user=pgo password=" + secret},     // keyword/value DSN
		{"PGO_DATABASE_URL", "postgres://pgo:" + secret + "@db.example:x/pgo"},  // bad port
		{"PGO_REDIS_URL", "redis://:" + secret + "@127.0.0.1:6379/0\x7f"},       // control character
		{"PGO_DATABASE_URL", "mysql://pgo:" + secret + "@db.example/pgo"},       // wrong scheme
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, map[string]string{c.name: c.value}, "", "migrate")
			if code != 2 || !strings.Contains(errOut, c.name) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, errOut, c.name)
			}
			if strings.Contains(errOut, secret) {
				t.Fatalf("stderr shows the password: %q", errOut)
			}
		})
	}
}
