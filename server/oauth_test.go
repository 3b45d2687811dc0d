package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// oauthConfig is PGO Zuid's client configuration against the env's listener.
func (e *consentEnv) oauthConfig() *oauth2.Config {
	return &oauth2.Config{ClientID: zuid, RedirectURL: zuidCallback, Scopes: []string{"noord~51"},
		Endpoint: oauth2.Endpoint{AuthURL: e.base + "/oauth/authorize", TokenURL: e.base + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams}}
}

// codeFor runs the front channel (login, consent, allow) and returns the code.
func (e *consentEnv) codeFor(t *testing.T, b *browser, state, verifier string) string {
	t.Helper()
	ch := ""
	if verifier != "" {
		ch = s256(verifier)
	}
	u := e.consentTo(t, b, authParams(state, ch), "allow", "problems", "allergies")
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != zuidCallback || q.Get("state") != state || q.Get("iss") != testIssuer || len(q.Get("code")) < 43 {
		t.Fatalf("allow redirect %s", u.Redacted())
	}
	return q.Get("code")
}

// exchange redeems code with golang.org/x/oauth2 over mutual TLS as PGO Zuid.
func (e *consentEnv) exchange(t *testing.T, code, verifier string, cert ...tls.Certificate) (*oauth2.Token, error) {
	t.Helper()
	c := e.cert
	if len(cert) > 0 {
		c = cert[0]
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.client(c))
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := e.oauthConfig().Exchange(ctx, code, opts...)
	if tok != nil {
		e.secrets = append(e.secrets, tok.AccessToken)
	}
	return tok, err
}

// oauthCode returns the error code of a failed exchange.
func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return ""
	}
	return "transport: " + err.Error()
}

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra-length"

// The happy path over real mutual TLS against PostgreSQL: golang.org/x/oauth2 as
// PGO Zuid redeems the code (PKCE S256); the token is an RFC 9068 JWT that the
// published JWKS verifies, bound to Zuid's certificate; CheckAccess lets it in
// with the grant's export job; revocation (RFC 7009) ends the grant, after which
// CheckAccess refuses. Every step is on the audit log with the transfer's
// correlation id.
func TestOAuthHappyPath(t *testing.T) {
	e := newConsentEnv(t, consentOpts{requirePKCE: true})
	b := e.browser()
	code := e.codeFor(t, b, "state-happy-1", verifier)
	start := time.Now()
	tok, err := e.exchange(t, code, verifier)
	if err != nil {
		t.Fatalf("exchange: %v\n%s", err, e.logs.String())
	}
	t.Logf("token issued in %s", time.Since(start))
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("scope") != "noord~51" {
		t.Errorf("token response: type %q refresh %q scope %v", tok.TokenType, tok.RefreshToken, tok.Extra("scope"))
	}
	if left := time.Until(tok.Expiry); left > 15*time.Minute+time.Second || left < 14*time.Minute {
		t.Errorf("expires in %s, want 15 minutes", left)
	}
	claims := e.verifyJWT(t, tok.AccessToken)
	if claims["iss"] != testIssuer || claims["aud"] != testIssuer+"/51/fhir" || claims["client_id"] != zuid ||
		claims["sub"] != e.patient || claims["scope"] != "noord~51" || claims["jti"] == "" || claims["grant_id"] == "" {
		t.Errorf("claims %v", claims)
	}
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != thumbprint(e.cert) {
		t.Errorf("cnf %v, want the client certificate's thumbprint", claims["cnf"])
	}
	ctx := reqctx.WithIDs(context.Background(), reqctx.IDs{Request: "fhir-req-1", Correlation: "c0ffee00-1111-4222-8333-444455556666"})
	a, err := e.svc.CheckAccess(ctx, tok.AccessToken, thumbprint(e.cert))
	if err != nil {
		t.Fatalf("CheckAccess: %v", err)
	}
	if a.ClientID != zuid || a.AccountID != e.patient || a.ExportJobID == "" || a.CorrelationID != "c0ffee00-1111-4222-8333-444455556666" {
		t.Errorf("access %+v", a)
	}
	for _, act := range []audit.Action{audit.ActConsentShown, audit.ActConsentGranted, audit.ActCodeIssued,
		audit.ActExportRequested, audit.ActCodeRedeemed, audit.ActTokenIssued} {
		recs := e.auditRecords(t, act)
		if len(recs) != 1 || recs[0].CorrelationID != "c0ffee00-1111-4222-8333-444455556666" {
			t.Errorf("%s: %d records, correlation %v", act, len(recs), recs)
		}
	}
	if r := e.auditRecords(t, audit.ActTokenIssued)[0]; r.ActorID != zuid || r.SourceIP != "127.0.0.1" || r.PersonID != e.patient {
		t.Errorf("token_issued record: actor %s ip %s person %s", r.ActorID, r.SourceIP, r.PersonID)
	}
	// RFC 7009: revoke, then the token no longer opens anything.
	resp := e.postForm(t, "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {zuid}}, e.cert)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := e.svc.CheckAccess(ctx, tok.AccessToken, thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Fatalf("after revoke: %v", err)
	}
	e.wantAudit(t, audit.ActAccessRefused, "revoked")
	if len(e.auditRecords(t, audit.ActTokenRevoked)) != 1 {
		t.Error("no token_revoked record")
	}
	g, _ := e.svc.Grants(context.Background(), e.patient)
	if len(g) != 1 || g[0].State != consent.StateUsed {
		t.Errorf("grant after revoke: %+v", g)
	}
}

// verifyJWT checks an access token against the published JWKS and returns its
// claims (RFC 9068: typ at+jwt, ES256, kid).
func (e *consentEnv) verifyJWT(t *testing.T, token string) map[string]any {
	t.Helper()
	resp := e.get(t, "/oauth/jwks")
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %d keys", err, len(set.Keys))
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Protected
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.KeyID != set.Keys[0].KeyID {
		t.Errorf("header typ %v kid %q", h.ExtraHeaders[jose.HeaderType], h.KeyID)
	}
	payload, err := jws.Verify(set.Keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *consentEnv) get(t *testing.T, path string, certs ...tls.Certificate) *http.Response {
	t.Helper()
	resp, err := e.client(certs...).Get(e.base + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// postForm posts to the listener with the given client certificates (none:
// without one).
func (e *consentEnv) postForm(t *testing.T, path string, form url.Values, certs ...tls.Certificate) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("MedMij-Request-ID", "9a8b7c6d-0000-4000-8000-000000000001")
	resp, err := e.client(certs...).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", resp.StatusCode, b)
	}
	return m
}

// RFC 8414: the metadata names one issuer, used verbatim everywhere.
func TestOAuthMetadata(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	m := readJSON(t, e.get(t, "/.well-known/oauth-authorization-server"))
	want := map[string]any{
		"issuer": testIssuer, "token_endpoint": testIssuer + "/oauth/token", "revocation_endpoint": testIssuer + "/oauth/revoke",
		"jwks_uri": testIssuer + "/oauth/jwks", "authorization_endpoint": testIssuer + "/oauth/authorize",
		"authorization_response_iss_parameter_supported": true, "tls_client_certificate_bound_access_tokens": true,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if j, _ := json.Marshal(m["code_challenge_methods_supported"]); string(j) != `["S256"]` {
		t.Errorf("code_challenge_methods_supported %s", j)
	}
	if j, _ := json.Marshal(m["token_endpoint_auth_methods_supported"]); string(j) != `["tls_client_auth"]` {
		t.Errorf("token_endpoint_auth_methods_supported %s", j)
	}
}
