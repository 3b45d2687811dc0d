package accountdb_test

// A real OpenID Provider for the OIDC tests: the example OP of zitadel/oidc v3
// (account/testdata/op, its own module), built once and started per test binary.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	opClientID     = "pgo-test"
	opClientSecret = "op-client-secret"
	opRedirect     = "http://127.0.0.1:1/login/oidc/callback" // never dialled: the test stops there
	acrSubstantial = "http://eidas.europa.eu/LoA/substantial"
	acrLow         = "http://eidas.europa.eu/LoA/low"
)

// opIssuer is the running OP's issuer URL ("" when it could not start).
var opIssuer string

// startOP builds and starts the OP; it returns a stop function.
func startOP(dir string) (func(), error) {
	bin := filepath.Join(dir, "op")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "testdata", "op")
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build OP: %v\n%s", err, out)
	}
	users := map[string]any{
		"id-high": map[string]any{"ID": "id-high", "Username": "hoog", "Password": "op-password", "EmailVerified": true},
		"id-low":  map[string]any{"ID": "id-low", "Username": "laag", "Password": "op-password", "EmailVerified": true},
	}
	b, _ := json.Marshal(users)
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + "/"
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "OP_ADDR="+addr, "OP_ISSUER="+issuer, "USERS_FILE="+usersFile,
		"OP_CLIENT_ID="+opClientID, "OP_CLIENT_SECRET="+opClientSecret, "REDIRECT_URI="+opRedirect,
		"OP_ACR=id-high="+acrSubstantial+",id-low="+acrLow)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	for i := 0; i < 100; i++ {
		resp, err := http.Get(issuer + ".well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				opIssuer = issuer
				return stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("OP did not answer at %s", issuer)
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgo-op-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop, err := startOP(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "accountdb tests: cannot start the OpenID Provider:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
