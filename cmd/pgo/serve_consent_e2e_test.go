package main

import (
	"context"
	"encoding/base32"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// The source role end to end on the real `pgo serve` (the binary, as a child
// process): a patient made with `pgo user add` and given MedMij's test dossier
// with `pgo dossier import` logs in through the authorization request, consents,
// and PGO Zuid (client certificate from `pgo keys dev-ca`) redeems the code with
// golang.org/x/oauth2 over mutual TLS (PKCE S256) and revokes the token.
func TestServeConsentEndToEnd(t *testing.T) {
	certs := devCerts(t, "localhost", "zuid.localhost")
	vars := serveVars(t, certs)
	dir := t.TempDir()
	ocl, key := filepath.Join(dir, "ocl.xml"), filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(ocl, []byte(consentTestOCL), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.WriteSigningKeyFile(key); err != nil {
		t.Fatal(err)
	}
	const callback = "https://zuid.localhost/oauth/callback"
	for k, v := range map[string]string{"PGO_OCL_FILE": ocl, "PGO_SIGNING_KEY": key, "PGO_PROVIDER_NAME": "noord",
		"PGO_PUBLIC_URL": "https://localhost:8443", "PGO_CLIENT_REDIRECTS": "zuid.localhost=" + callback,
		"PGO_REQUIRE_PKCE": "true", "PGO_ARGON2_TIME": "1", "PGO_ARGON2_MEMORY_KIB": "19456"} {
		vars[k] = v
	}
	if code, _, errOut := runCLI(t, vars, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	const pw = "wachtwoord-van-anouk-1"
	code, out, errOut := runCLI(t, vars, pw+"\n", "user", "add", "anouk", "--role", "patient")
	if code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	id := regexp.MustCompile(`\(id ([0-9a-f-]{36})\)`).FindStringSubmatch(out)[1]
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(out)[1])
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, vars, "", "dossier", "import", "--user", id, shared.Path("medmij", "bgz-patA")); code != 0 {
		t.Fatalf("dossier import: %s", errOut)
	}
	p := startPGO(t, vars, "listening on https://", "serve")
	base := "https://" + p.Addr

	// The patient's browser: follows redirects on this site, stops at PGO Zuid.
	browser := tlsClient(t, certs, "", nil)
	browser.Jar, _ = cookiejar.New(nil)
	browser.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Hostname() == "zuid.localhost" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	conf := &oauth2.Config{ClientID: "zuid.localhost", RedirectURL: callback, Scopes: []string{"noord~51"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	authURL, _ := url.Parse(conf.AuthCodeURL("state-e2e-000001", oauth2.S256ChallengeOption(verifier)))
	next := authURL.RequestURI()
	send := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	csrfOf := func(page string) string {
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no form:\n%s", page)
		}
		return m[1]
	}
	resp, page := send(http.MethodGet, next, nil)
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("authorize before login ended at %s", resp.Request.URL)
	}
	_, page = send(http.MethodPost, "/login?next="+url.QueryEscape(next), url.Values{"csrf": {csrfOf(page)}, "name": {"anouk"}, "password": {pw}})
	totp := account.TOTPCode(seed, account.TOTPStep(time.Now()))
	resp, page = send(http.MethodPost, "/login/code?next="+url.QueryEscape(next), url.Values{"csrf": {csrfOf(page)}, "code": {totp}})
	if resp.Request.URL.Path != "/oauth/authorize" || !strings.Contains(page, "PGO Zuid") {
		t.Fatalf("after login at %s (%d)", resp.Request.URL.Path, resp.StatusCode)
	}
	form := url.Values{"decision": {"allow"}, "category": {"problems"}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	resp, _ = send(http.MethodPost, "/oauth/authorize", form)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("iss") != "https://localhost:8443" || loc.Query().Get("code") == "" {
		t.Fatalf("allow: %d %v", resp.StatusCode, loc)
	}
	peer := tlsClient(t, certs, "zuid.localhost", nil)
	tok, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, peer), loc.Query().Get("code"),
		oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("token: %v\nstderr:\n%s", err, p.Stderr)
	}
	if tok.TokenType != "Bearer" || tok.Extra("scope") != "noord~51" || strings.Count(tok.AccessToken, ".") != 2 {
		t.Errorf("token %q scope %v", tok.TokenType, tok.Extra("scope"))
	}
	rv, err := peer.PostForm(base+"/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"zuid.localhost"}})
	if err != nil || rv.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", rv, err)
	}
	rv.Body.Close()
	if logs := p.Stderr.String() + p.Stdout.String(); strings.Contains(logs, tok.AccessToken) || strings.Contains(logs, loc.Query().Get("code")) ||
		strings.Contains(logs, pw) {
		t.Error("a token, code or password is in pgo serve's output")
	}
}
