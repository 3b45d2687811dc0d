package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

const consentTestOCL = `<?xml version="1.0" encoding="UTF-8"?>
<OAuthclientlist xmlns="xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/">
  <Tijdstempel>2026-11-23T10:00:00Z</Tijdstempel>
  <Volgnummer>1</Volgnummer>
  <OAuthclients><OAuthclient><Hostname>zuid.localhost</Hostname><OAuthclientOrganisatienaam>PGO Zuid</OAuthclientOrganisatienaam></OAuthclient></OAuthclients>
</OAuthclientlist>`

// The wiring pgo serve uses: with PGO_PROVIDER_NAME set, the App mounts the
// authorization server (metadata with the issuer from PGO_PUBLIC_URL, the
// authorization endpoint sending a patient to the login with the request as a
// local ?next=); without a signing key it refuses to start, naming the setting;
// without PGO_PROVIDER_NAME the source role stays off.
func TestMountConsentWiring(t *testing.T) {
	dir := t.TempDir()
	ocl := filepath.Join(dir, "ocl.xml")
	if err := os.WriteFile(ocl, []byte(consentTestOCL), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "signing.pem")
	if _, err := vault.WriteSigningKeyFile(key); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PGO_DATABASE_URL": storetest.Schema(t), "PGO_KEYSET_FILE": vaulttest.Keyset(t),
		"PGO_SIGNING_KEY": key, "PGO_OCL_FILE": ocl, "PGO_PROVIDER_NAME": "noord",
		"PGO_PUBLIC_URL": "https://noord.localhost:8443/", "PGO_CLIENT_REDIRECTS": "zuid.localhost=https://zuid.localhost/oauth/callback"}
	if code, _, errOut := runCLI(t, vars, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	srv := mountForTest(t, vars, nil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["issuer"] != "https://noord.localhost:8443" {
		t.Fatalf("metadata %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/oauth/authorize?response_type=code&client_id=zuid.localhost"+
		"&redirect_uri=https%3A%2F%2Fzuid.localhost%2Foauth%2Fcallback&scope=noord~51&state=state-wiring-1", nil))
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=%2Foauth%2Fauthorize") {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	noKey := map[string]string{}
	for k, v := range vars {
		noKey[k] = v
	}
	delete(noKey, "PGO_SIGNING_KEY")
	mountForTest(t, noKey, func(err error) {
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, "PGO_SIGNING_KEY") {
			t.Fatalf("without a signing key: %v", err)
		}
	})
	off := map[string]string{}
	for k, v := range noKey {
		off[k] = v
	}
	delete(off, "PGO_PROVIDER_NAME")
	srv = mountForTest(t, off, nil)
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("source role off: metadata %d", rec.Code)
	}
}

// mountForTest opens the App as pgo serve does and mounts every area; wantErr,
// when set, receives the mount error instead of failing the test.
func mountForTest(t *testing.T, vars map[string]string, wantErr func(error)) *server.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{stderr: io.Discard, getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	a, err := openApp(ctx, e, "serve", io.Discard, needDB|needVault|needSigner|needLists)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv, err := server.New(server.Deps{Config: a.Config, Logger: a.Log})
	if err != nil {
		t.Fatal(err)
	}
	err = a.mountAreas(ctx, srv)
	if wantErr != nil {
		wantErr(err)
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
