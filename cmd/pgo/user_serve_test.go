package main

import (
	"context"
	"encoding/base32"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// The wiring pgo serve uses: an account made with `pgo user add` logs in through
// the mounted pages and reads the audit log, also after `pgo keys rotate` and
// `pgo keys rewrap` moved its TOTP seed to the new key.
func TestMountAccountWiring(t *testing.T) {
	vars := map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_ARGON2_MEMORY_KIB": "19456", "PGO_ARGON2_TIME": "1",
		"PGO_KEYSET_FILE": vaulttest.Keyset(t)}
	const pw = "wachtwoord-van-eva-1"
	code, out, errOut := runCLI(t, vars, pw+"\n", "user", "add", "eva", "--role", "auditor")
	if code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(out)[1])
	if err != nil {
		t.Fatal(err)
	}
	oldKey := totpKeyID(t, vars, "eva")
	mustCLI(t, vars, "keys", "rotate")
	rewrap, _ := mustCLI(t, vars, "keys", "rewrap")
	if !regexp.MustCompile(`(?m)^account_totp +moved 1,`).MatchString(rewrap) || totpKeyID(t, vars, "eva") == oldKey {
		t.Fatalf("keys rewrap did not move the TOTP seed off key %d:\n%s", oldKey, rewrap)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the session sweeper
	e := &env{stderr: io.Discard, getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	a, err := openApp(ctx, e, "serve", io.Discard, needDB|needVault)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv, err := server.New(server.Deps{Config: a.Config, Logger: a.Log})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.mountAccount(ctx, srv); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	defer ts.Close()
	hc := ts.Client()
	hc.Jar, _ = cookiejar.New(nil)
	csrf := func(path string) string {
		resp, err := hc.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no form (%d)", path, resp.StatusCode)
		}
		return string(m[1])
	}
	post := func(path string, form url.Values) *http.Response {
		resp, err := hc.PostForm(ts.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	post("/login", url.Values{"csrf": {csrf("/login")}, "name": {"eva"}, "password": {pw}})
	resp := post("/login/code", url.Values{"csrf": {csrf("/login/code")}, "code": {account.TOTPCode(secret, account.TOTPStep(time.Now()))}})
	if resp.Request.URL.Path != "/account" {
		t.Fatalf("after login at %s (%d)", resp.Request.URL.Path, resp.StatusCode)
	}
	r, err := hc.Get(ts.URL + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), "account_created") || !strings.Contains(string(b), "login") {
		t.Fatalf("/audit: %d\n%s", r.StatusCode, b)
	}
}

func TestMountAccountOIDCNeedsClientAndLevel(t *testing.T) {
	cfg := config.MustDefault()
	cfg.Account.OIDCIssuer = "http://127.0.0.1:1/"
	_, err := oidcLogin(context.Background(), cfg, nil)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, "PGO_OIDC_MIN_ACR") {
		t.Fatalf("got %v", err)
	}
}
