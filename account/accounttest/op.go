// Package accounttest starts a real OpenID Provider for tests: the example OP of
// github.com/zitadel/oidc/v3 (../testdata/op, its own module, so the service's
// go.mod does not carry it), with users whose ID tokens carry the acr the test
// chooses. Only tests import this package.
package accounttest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Users of the OP: their password is Password; their ID tokens carry the acr of
// their name.
const (
	UserSubstantial = "hoog" // acr http://eidas.europa.eu/LoA/substantial, subject "id-high"
	UserLow         = "laag" // acr http://eidas.europa.eu/LoA/low, subject "id-low"
	Password        = "op-password"
	ACRSubstantial  = "http://eidas.europa.eu/LoA/substantial"
	ACRLow          = "http://eidas.europa.eu/LoA/low"
	ClientID        = "pgo-test"
	ClientSecret    = "op-client-secret"
)

// OP is a running provider.
type OP struct {
	Issuer string // http://127.0.0.1:PORT/
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles the OP once per test process into the user cache directory.
// Test packages run in parallel: each links to a file of its own and renames it
// into place, so no package ever runs a half-written binary (the build cache
// keeps this to a link, about a second).
func build() (string, error) {
	buildOnce.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(self), "..", "testdata", "op")
		cache, err := os.UserCacheDir()
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(cache, "pgo-test-op", "op")
		tmp := fmt.Sprintf("%s.%d", binary, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the OpenID Provider: %v\n%s", err, out)
			return
		}
		buildErr = os.Rename(tmp, binary)
	})
	return binary, buildErr
}

// Start builds (once) and starts an OP that accepts redirectURIs for ClientID.
// It is stopped at the end of the test.
func Start(t testing.TB, redirectURIs ...string) *OP {
	t.Helper()
	op, stop, err := StartProcess(t.TempDir(), redirectURIs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return op
}

// StartProcess is Start for TestMain: dir holds its files; call stop when done.
func StartProcess(dir string, redirectURIs ...string) (*OP, func(), error) {
	bin, err := build()
	if err != nil {
		return nil, nil, err
	}
	users := map[string]any{
		"id-high": map[string]any{"ID": "id-high", "Username": UserSubstantial, "Password": Password, "EmailVerified": true},
		"id-low":  map[string]any{"ID": "id-low", "Username": UserLow, "Password": Password, "EmailVerified": true},
	}
	b, _ := json.Marshal(users)
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	issuer := "http://" + addr + "/"
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "OP_ADDR="+addr, "OP_ISSUER="+issuer, "USERS_FILE="+usersFile,
		"OP_CLIENT_ID="+ClientID, "OP_CLIENT_SECRET="+ClientSecret, "REDIRECT_URI="+strings.Join(redirectURIs, ","),
		"OP_ACR=id-high="+ACRSubstantial+",id-low="+ACRLow)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(issuer + ".well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &OP{Issuer: issuer}, stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, nil, fmt.Errorf("the OpenID Provider did not answer at %s", issuer)
}
