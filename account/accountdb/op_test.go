package accountdb_test

// A real OpenID Provider for the OIDC tests (package accounttest), started once for
// this test binary.

import (
	"fmt"
	"os"
	"testing"

	"github.com/pgo-koppelvlak/pgo/account/accounttest"
)

const (
	opClientID     = accounttest.ClientID
	opClientSecret = accounttest.ClientSecret
	opRedirect     = "http://127.0.0.1:1/login/oidc/callback" // never dialled: the test stops there
	acrSubstantial = accounttest.ACRSubstantial
)

// opIssuer is the running OP's issuer URL.
var opIssuer string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgo-op-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	op, stop, err := accounttest.StartProcess(dir, opRedirect)
	if err != nil {
		fmt.Fprintln(os.Stderr, "accountdb tests: cannot start the OpenID Provider:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	opIssuer = op.Issuer
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
