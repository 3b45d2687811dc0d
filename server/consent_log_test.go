package server

import (
	"net/url"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/audit"
)

// No token, code, password, TOTP code, session id or BSN in any log line of a
// whole transfer's source side: login, consent, token, a replay, a refused
// token request with a client secret, a FHIR-style access check and revocation.
// The check itself is shown to work on a log that does hold them.
func TestConsentLogsHoldNoSecrets(t *testing.T) {
	e := newConsentEnv(t, consentOpts{requirePKCE: true})
	b := e.browser()
	code := e.codeFor(t, b, "state-logs-1", verifier)
	tok, err := e.exchange(t, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.exchange(t, code, verifier); oauthCode(err) != "invalid_grant" {
		t.Fatalf("replay: %v", err)
	}
	form := tokenForm("some-code-value-1234567890", verifier)
	form.Set("client_secret", "a-client-secret-0987654321")
	e.secrets = append(e.secrets, "some-code-value-1234567890", "a-client-secret-0987654321", verifier)
	e.postForm(t, "/oauth/token", form, e.cert)
	e.postForm(t, "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {zuid}}, e.cert)
	e.wantAudit(t, audit.ActClientAuthFailed, "client_secret_sent")
	out := e.logs.String()
	if strings.Count(out, `"route":"/oauth/token"`) < 3 || !strings.Contains(out, `"msg":"oauth request refused"`) {
		t.Fatalf("the token requests were not logged:\n%s", out)
	}
	if leaks := logLeaks(out, e.secrets); len(leaks) != 0 {
		t.Fatalf("leaks: %v", leaks)
	}
	// The check finds what it looks for.
	planted := out + `{"msg":"oops","code":"` + code + `","token":"` + tok.AccessToken + `","bsn":"999990019"}` + "\n"
	if n := len(logLeaks(planted, []string{code, tok.AccessToken})); n != 3 {
		t.Errorf("planted code, token and BSN: %d leaks found, want 3", n)
	}
}
