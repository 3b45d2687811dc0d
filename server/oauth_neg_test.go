package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
)

// tokenForm is a token request of PGO Zuid.
func tokenForm(code, verifier string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {zuid}, "redirect_uri": {zuidCallback}}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	return v
}

// Every refusal of the token endpoint, with the exact OAuth error (RFC 6749
// §5.2) and its audit record. Each case gets a fresh code.
func TestTokenRefusals(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	other := e.ca.pair(t, "vier.localhost", x509.ExtKeyUsageClientAuth)
	weg := e.ca.pair(t, "weg.localhost", x509.ExtKeyUsageClientAuth)
	onbekend := e.ca.pair(t, "onbekend.localhost", x509.ExtKeyUsageClientAuth)
	tests := []struct {
		name      string
		pkce      bool
		form      func(code string) url.Values
		certs     []tls.Certificate
		status    int
		code      string
		act       audit.Action
		reason    string
		advanceBy time.Duration
	}{
		{name: "expired code", form: func(c string) url.Values { return tokenForm(c, "") }, certs: []tls.Certificate{e.cert},
			status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant", advanceBy: 61 * time.Second},
		{name: "wrong PKCE verifier", pkce: true, form: func(c string) url.Values { return tokenForm(c, strings.Repeat("w", 43)) },
			certs: []tls.Certificate{e.cert}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "PKCE downgrade: challenge sent, no verifier", pkce: true, form: func(c string) url.Values { return tokenForm(c, "") },
			certs: []tls.Certificate{e.cert}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "verifier without challenge", form: func(c string) url.Values { return tokenForm(c, verifier) },
			certs: []tls.Certificate{e.cert}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "other redirect_uri", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("redirect_uri", zuidCallback+"/")
			return v
		}, certs: []tls.Certificate{e.cert}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "client secret sent", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("client_secret", "geheim-1234")
			return v
		}, certs: []tls.Certificate{e.cert}, status: 401, code: "invalid_client", act: audit.ActClientAuthFailed, reason: "client_secret_sent"},
		{name: "no client certificate", form: func(c string) url.Values { return tokenForm(c, "") },
			status: 401, code: "invalid_client", act: audit.ActClientAuthFailed, reason: "no_client_certificate"},
		{name: "certificate of another client", form: func(c string) url.Values { return tokenForm(c, "") },
			certs: []tls.Certificate{other}, status: 401, code: "invalid_client", act: audit.ActClientAuthFailed, reason: "certificate_mismatch"},
		{name: "client not on the OCL", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("client_id", "weg.localhost")
			return v
		}, certs: []tls.Certificate{weg}, status: 401, code: "invalid_client", act: audit.ActClientAuthFailed, reason: "client_not_on_ocl"},
		{name: "client on the OCL without registration here", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("client_id", "onbekend.localhost")
			return v
		}, certs: []tls.Certificate{onbekend}, status: 401, code: "invalid_client", act: audit.ActClientAuthFailed, reason: "client_not_registered"},
		{name: "code issued to another client", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("client_id", "vier.localhost")
			return v
		}, certs: []tls.Certificate{other}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "unknown code", form: func(string) url.Values { return tokenForm("not-a-code-at-all", "") },
			certs: []tls.Certificate{e.cert}, status: 400, code: "invalid_grant", act: audit.ActTokenRefused, reason: "invalid_grant"},
		{name: "wrong grant type", form: func(c string) url.Values {
			v := tokenForm(c, "")
			v.Set("grant_type", "client_credentials")
			return v
		}, certs: []tls.Certificate{e.cert}, status: 400, code: "unsupported_grant_type", act: audit.ActTokenRefused, reason: "unsupported_grant_type"},
	}
	b := e.browser()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ""
			if tt.pkce {
				v = verifier
			}
			code := e.codeFor(t, b, "state-neg-"+string(rune('a'+i))+"-0000", v)
			e.clock.add(tt.advanceBy)
			before := len(e.auditRecords(t, tt.act))
			resp := e.postForm(t, "/oauth/token", tt.form(code), tt.certs...)
			m := readJSON(t, resp)
			if resp.StatusCode != tt.status || m["error"] != tt.code || m["access_token"] != nil {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, m, tt.status, tt.code)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("error response may be cached")
			}
			if len(e.auditRecords(t, tt.act)) != before+1 {
				t.Errorf("no new %s record", tt.act)
			}
			e.wantAudit(t, tt.act, tt.reason)
			if n := len(e.auditRecords(t, audit.ActTokenIssued)); n != 0 {
				t.Errorf("%d tokens issued", n)
			}
		})
	}
}

// A certificate from another CA is never accepted. A Go client offers only a
// certificate from a CA the server names in its CertificateRequest, so it sends
// none and gets an audited invalid_client; a client that sends it anyway does not
// get past the TLS handshake of the real listener (VerifyClientCertIfGiven
// against PGO_CLIENT_CA), so there is no HTTP request and no token.
func TestTokenForeignCA(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	foreign := newKeyCA(t, "Other CA").pair(t, zuid, x509.ExtKeyUsageClientAuth)
	code := e.codeFor(t, e.browser(), "state-foreign-1", "")
	resp := e.postForm(t, "/oauth/token", tokenForm(code, ""), foreign)
	if m := readJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Fatalf("foreign certificate: %d %v", resp.StatusCode, m)
	}
	e.wantAudit(t, audit.ActClientAuthFailed, "no_client_certificate")
	c := e.client()
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(tokenForm(code, "").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2, err := c.Do(req)
	if err == nil {
		r2.Body.Close()
		t.Fatalf("a forced certificate of another CA got an HTTP answer: %d", r2.StatusCode)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("handshake error %v does not name the certificate", err)
	}
	if n := len(e.auditRecords(t, audit.ActTokenIssued)); n != 0 {
		t.Errorf("%d tokens issued", n)
	}
}

// A second redemption of a code is invalid_grant and revokes the token the
// first one got (RFC 6749 §4.1.2, RFC 9700 §4.5.3): CheckAccess refuses it, the
// grant ends (revoked), code_replayed is audited.
func TestTokenReplayRevokes(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	code := e.codeFor(t, e.browser(), "state-replay-1", "")
	first, err := e.exchange(t, code, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.svc.CheckAccess(ctx, first.AccessToken, thumbprint(e.cert)); err != nil {
		t.Fatalf("first token before the replay: %v", err)
	}
	if _, err := e.exchange(t, code, ""); oauthCode(err) != "invalid_grant" {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	if _, err := e.svc.CheckAccess(ctx, first.AccessToken, thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Fatalf("first token after the replay: %v", err)
	}
	e.wantAudit(t, audit.ActCodeReplayed, "code_replayed")
	e.wantAudit(t, audit.ActAccessRefused, "revoked")
	g, _ := e.svc.Grants(ctx, e.patient)
	if g[0].State != consent.StateRevoked {
		t.Errorf("grant state %s", g[0].State)
	}
}

// Of concurrent redemptions of one code exactly one gets a token; the others are
// invalid_grant, and since they are replays the winner's token is revoked too.
func TestTokenConcurrentRedemption(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	code := e.codeFor(t, e.browser(), "state-race-1", "")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens []string
	codes := map[string]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := e.exchange(t, code, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				tokens = append(tokens, tok.AccessToken)
			}
			codes[oauthCode(err)]++
		}()
	}
	close(start)
	wg.Wait()
	if len(tokens) != 1 || codes[""] != 1 || codes["invalid_grant"] != n-1 {
		t.Fatalf("outcomes %v: want exactly one token and %d invalid_grant", codes, n-1)
	}
	if _, err := e.svc.CheckAccess(context.Background(), tokens[0], thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("the winner's token after the replays: %v", err)
	}
	var used int
	_ = e.db.Pool.QueryRow(context.Background(), `select count(*) from oauth_token`).Scan(&used)
	if used != 1 {
		t.Errorf("%d tokens stored", used)
	}
}

// CheckAccess refuses a token presented with another certificate, after
// withdrawal and after expiry, each with EUNAUTHORIZED and an access_refused
// record naming why.
func TestCheckAccessRefusals(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	b := e.browser()
	ctx := context.Background()
	tok := func(state string) string {
		t.Helper()
		k, err := e.exchange(t, e.codeFor(t, b, state, ""), "")
		if err != nil {
			t.Fatal(err)
		}
		return k.AccessToken
	}
	other := e.ca.pair(t, zuid, x509.ExtKeyUsageClientAuth) // same name, another key
	t1 := tok("state-check-1")
	if _, err := e.svc.CheckAccess(ctx, t1, thumbprint(other)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("another certificate: %v", err)
	}
	e.wantAudit(t, audit.ActAccessRefused, "certificate_mismatch")
	if _, err := e.svc.CheckAccess(ctx, t1+"x", thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("tampered token: %v", err)
	}
	e.wantAudit(t, audit.ActAccessRefused, "bad_signature")
	// withdrawal
	g, _ := e.svc.Grants(ctx, e.patient)
	if err := e.svc.Withdraw(ctx, g[0].ID, consent.Caller{AccountID: e.patient, IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckAccess(ctx, t1, thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("after withdrawal: %v", err)
	}
	e.wantAudit(t, audit.ActAccessRefused, "revoked")
	// expiry
	t2 := tok("state-check-2")
	if _, err := e.svc.CheckAccess(ctx, t2, thumbprint(e.cert)); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	e.clock.add(15*time.Minute + time.Second)
	if _, err := e.svc.CheckAccess(ctx, t2, thumbprint(e.cert)); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
		t.Errorf("after expiry: %v", err)
	}
	e.wantAudit(t, audit.ActAccessRefused, "expired")
}

// With PKCE optional (MedMij core clients send none), a code issued with a
// challenge still needs its verifier after a wrong guess: fosite deletes the
// stored challenge before comparing, which would let the next attempt without a
// verifier pass as a code without PKCE; our store keeps it (consent/fositestore.go).
func TestPKCENoDowngradeAfterWrongGuess(t *testing.T) {
	e := newConsentEnv(t, consentOpts{requirePKCE: false})
	code := e.codeFor(t, e.browser(), "state-guess-1", verifier)
	for i, v := range []string{strings.Repeat("g", 43), "", strings.Repeat("h", 50)} {
		resp := e.postForm(t, "/oauth/token", tokenForm(code, v), e.cert)
		if m := readJSON(t, resp); m["error"] != "invalid_grant" {
			t.Fatalf("attempt %d (verifier %q): %d %v", i, v, resp.StatusCode, m)
		}
	}
	if _, err := e.exchange(t, code, verifier); err != nil {
		t.Fatalf("the right verifier after wrong guesses: %v", err)
	}
}

// Revocation (RFC 7009) authenticates the client as the token endpoint does:
// without a certificate it is an audited invalid_client; another client cannot
// revoke Zuid's token (unauthorized_client, the token still works); an unknown
// token is answered 200 (RFC 7009 §2.2) and changes nothing.
func TestRevokeRefusals(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	tok, err := e.exchange(t, e.codeFor(t, e.browser(), "state-revoke-1", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"token": {tok.AccessToken}, "client_id": {zuid}}
	resp := e.postForm(t, "/oauth/revoke", form)
	if m := readJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("no certificate: %d %v", resp.StatusCode, m)
	}
	e.wantAudit(t, audit.ActClientAuthFailed, "no_client_certificate")
	vier := e.ca.pair(t, "vier.localhost", x509.ExtKeyUsageClientAuth)
	resp = e.postForm(t, "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"vier.localhost"}}, vier)
	if m := readJSON(t, resp); resp.StatusCode != http.StatusBadRequest || m["error"] != "unauthorized_client" {
		t.Errorf("another client: %d %v", resp.StatusCode, m)
	}
	e.wantAudit(t, audit.ActTokenRefused, "unauthorized_client")
	resp = e.postForm(t, "/oauth/revoke", url.Values{"client_id": {zuid}}, e.cert)
	if m := readJSON(t, resp); resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Errorf("no token parameter (RFC 7009 §2.1: REQUIRED): %d %v", resp.StatusCode, m)
	}
	e.wantAudit(t, audit.ActTokenRefused, "invalid_request")
	if resp := e.postForm(t, "/oauth/revoke", url.Values{"token": {"no-such-token"}, "client_id": {zuid}}, e.cert); resp.StatusCode != http.StatusOK {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
	if _, err := e.svc.CheckAccess(context.Background(), tok.AccessToken, thumbprint(e.cert)); err != nil {
		t.Errorf("the token after refused revocations: %v", err)
	}
	if n := len(e.auditRecords(t, audit.ActTokenRevoked)); n != 0 {
		t.Errorf("%d revocations recorded", n)
	}
}

// While the OAuth Client List is not loaded no client can be recognised; that
// is this server's state, not the client's fault, so the token endpoint answers
// 503 temporarily_unavailable with Retry-After (not 401 invalid_client) and
// audits the refusal as lists_unavailable.
func TestTokenWithoutClientList(t *testing.T) {
	e := newConsentEnv(t, consentOpts{noOCL: true})
	resp := e.postForm(t, "/oauth/token", tokenForm("not-a-code-at-all", ""), e.cert)
	m := readJSON(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %v Retry-After %q, want 503 temporarily_unavailable with Retry-After", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	e.wantAudit(t, audit.ActClientAuthFailed, "lists_unavailable")
}
