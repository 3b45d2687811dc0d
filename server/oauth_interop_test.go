package server

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
)

// openIDClientVersion and undiciVersion are pinned here and in
// scripts/services.sh (ensure_test_tools), which installs them before the tests.
const (
	openIDClientVersion = "6.8.9"
	undiciVersion       = "7.30.2"
)

// openIDClientDir is where openid-client is installed: PGO_OPENID_CLIENT_DIR
// (set by scripts/test), else the same cache directory, installed there (pinned)
// when missing, as the axe-core helper does.
func openIDClientDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PGO_OPENID_CLIENT_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "pgo-openid-client-"+openIDClientVersion)
	}
	for _, pkg := range []string{"openid-client", "undici"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			out, err := exec.Command("npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir,
				"openid-client@"+openIDClientVersion, "undici@"+undiciVersion).CombinedOutput()
			if err != nil {
				t.Fatalf("installing openid-client with npm (or run scripts/test, which does): %v\n%s", err, out)
			}
			break
		}
	}
	return dir
}

// The happy path once more with a client nobody here wrote: openid-client
// (TlsClientAuth, PKCE S256) builds the authorization request, checks state and
// iss (RFC 9207) on the callback, redeems the code over mutual TLS and revokes
// the token (RFC 7009); the token it got opens the FHIR check, then no more.
func TestOpenIDClientInterop(t *testing.T) {
	e := newConsentEnv(t, consentOpts{requirePKCE: true})
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(openIDClientDir(t), "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "openid-client-interop.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(e.cert.PrivateKey)
	files := map[string][]byte{
		"interop.mjs": script,
		"ca.pem":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ca.cert.Raw}),
		"client.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.cert.Certificate[0]}),
		"client.key":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := json.Marshal(map[string]string{
		"issuer": testIssuer, "authorization_endpoint": testIssuer + "/oauth/authorize",
		"token_endpoint": e.base + "/oauth/token", "revocation_endpoint": e.base + "/oauth/revoke",
		"client_id": zuid, "redirect_uri": zuidCallback, "scope": "noord~51", "servername": "noord.localhost",
		"ca": filepath.Join(dir, "ca.pem"), "cert": filepath.Join(dir, "client.pem"), "key": filepath.Join(dir, "client.key"),
		"request_id": "5e1f0a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b", "correlation_id": "0badcafe-2222-4333-8444-555566667777",
	})
	node := exec.Command("node", filepath.Join(dir, "interop.mjs"), string(cfg))
	node.Dir = dir
	stdin, _ := node.StdinPipe()
	stdout, _ := node.StdoutPipe()
	stderr := &syncBuffer{}
	node.Stderr = stderr
	if err := node.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); _ = node.Wait() })
	lines := bufio.NewScanner(stdout)
	read := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("openid-client said nothing more; stderr:\n%s", stderr)
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil || m["error"] != nil {
			t.Fatalf("openid-client: %s (%v)\nstderr:\n%s", lines.Bytes(), err, stderr)
		}
		return m
	}
	auth, err := url.Parse(read()["authorize"].(string))
	if err != nil || auth.Query().Get("code_challenge_method") != "S256" || auth.Query().Get("client_id") != zuid {
		t.Fatalf("authorization URL %v (%v)", auth, err)
	}
	callback := e.consentTo(t, e.browser(), auth.Query(), "allow", "problems", "medication")
	io.WriteString(stdin, callback.String()+"\n")
	tok := read()
	at, _ := tok["access_token"].(string)
	e.secrets = append(e.secrets, at)
	if at == "" || tok["refresh_token"] != nil || tok["scope"] != "noord~51" || tok["expires_in"].(float64) > 900 {
		t.Fatalf("token response %v", tok)
	}
	ctx := context.Background()
	a, err := e.svc.CheckAccess(ctx, at, thumbprint(e.cert))
	if err != nil || a.CorrelationID != "0badcafe-2222-4333-8444-555566667777" {
		t.Fatalf("CheckAccess: %+v %v", a, err)
	}
	io.WriteString(stdin, "revoke\n")
	if read()["revoked"] != true {
		t.Fatal("not revoked")
	}
	if _, err := e.svc.CheckAccess(ctx, at, thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("after revocation: %v", err)
	}
	if resp := e.get(t, "/.well-known/oauth-authorization-server"); resp.StatusCode != http.StatusOK {
		t.Errorf("metadata %d", resp.StatusCode)
	}
}
