package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// The peer-surface attacks of TestAbuse (abuse_test.go), over the real HTTPS
// listener with mutual TLS.

// fhirAnswer is a FHIR response.
type fhirAnswer struct {
	status int
	auth   string // WWW-Authenticate
	body   string
}

// fhirGet reads path under the FHIR base with a bearer token, as the holder of cert.
func (e *abuseEnv) fhirGet(t *testing.T, path, tok string, cert tls.Certificate) fhirAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+FHIRBasePath+path, nil)
	req.Header.Set("Accept", "application/fhir+json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.client(cert).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fhirAnswer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)}
}

// tokenFor runs consent in b (logged in as whoever b is; anouk when not) and
// redeems the code as Zuid: the access token and its export job.
func (e *abuseEnv) tokenFor(t *testing.T, b *browser) (string, string) {
	t.Helper()
	k, err := e.exchange(t, e.codeFor(t, b, "state-"+uuid.NewString()[:12], ""), "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.CheckAccess(context.Background(), k.AccessToken, thumbprint(e.cert))
	if err != nil {
		t.Fatal(err)
	}
	return k.AccessToken, a.ExportJobID
}

// oauthRefusal posts a token (or revocation) request and checks the OAuth error.
func (e *abuseEnv) oauthRefusal(t *testing.T, what, path string, f url.Values, cert []tls.Certificate, status int, code string) {
	t.Helper()
	resp := e.postForm(t, path, f, cert...)
	m := readJSON(t, resp)
	if resp.StatusCode != status || m["error"] != code || m["access_token"] != nil {
		t.Errorf("%s: %d %v, want %d %s", what, resp.StatusCode, m, status, code)
	}
}

const search = "/DocumentReference?status=current"

// Code replay: the second redemption of a code is invalid_grant, revokes the
// token the first one got (the FHIR API then refuses it) and ends the grant;
// code_replayed is audited. Control: the first redemption's token worked.
func abuseCodeReplay(t *testing.T, e *abuseEnv) {
	code := e.codeFor(t, e.browser(), "state-replay-"+uuid.NewString()[:8], "")
	first, err := e.exchange(t, code, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := e.fhirGet(t, search, first.AccessToken, e.cert); a.status != http.StatusOK {
		t.Fatalf("control: the first token: %d", a.status)
	}
	replays := countAudit(t, e.accountEnv, audit.ActCodeReplayed, "", "code_replayed")
	e.oauthRefusal(t, "replayed code", "/oauth/token", tokenForm(code, ""), []tls.Certificate{e.cert}, http.StatusBadRequest, "invalid_grant")
	if a := e.fhirGet(t, search, first.AccessToken, e.cert); a.status != http.StatusUnauthorized || !strings.Contains(a.auth, `error="invalid_token"`) {
		t.Errorf("the first token after the replay: %d %q", a.status, a.auth)
	}
	if countAudit(t, e.accountEnv, audit.ActCodeReplayed, "", "code_replayed") != replays+1 {
		t.Error("no code_replayed record")
	}
	a, _ := e.svc.CheckAccess(context.Background(), first.AccessToken, thumbprint(e.cert))
	grants, _ := e.svc.Grants(context.Background(), e.patient)
	for _, g := range grants {
		if g.ID == a.GrantID && g.State == consent.StateActive {
			t.Error("the grant is still active after the replay")
		}
	}
}

// PKCE downgrade: a code issued for a challenge is not redeemed without the
// verifier or with a wrong one; a verifier for a code without a challenge is
// refused; "plain" (or no method) at the authorization request goes back to
// the client as invalid_request without a code. Control: the right verifier
// redeems the code after the refused attempts.
func abusePKCEDowngrade(t *testing.T, e *abuseEnv) {
	b := e.browser()
	code := e.codeFor(t, b, "state-pkce-"+uuid.NewString()[:8], verifier)
	issued := countAudit(t, e.accountEnv, audit.ActTokenIssued, "", "")
	for _, c := range []struct{ name, v string }{{"no verifier", ""}, {"wrong verifier", strings.Repeat("w", 43)},
		{"the challenge as verifier (plain)", s256(verifier)}} {
		e.oauthRefusal(t, c.name, "/oauth/token", tokenForm(code, c.v), []tls.Certificate{e.cert}, http.StatusBadRequest, "invalid_grant")
	}
	if n := countAudit(t, e.accountEnv, audit.ActTokenIssued, "", ""); n != issued {
		t.Errorf("%d tokens issued to refused requests", n-issued)
	}
	if _, err := e.exchange(t, code, verifier); err != nil {
		t.Errorf("control: the right verifier: %v", err)
	}
	plain := e.codeFor(t, b, "state-pkce-"+uuid.NewString()[:8], "")
	e.oauthRefusal(t, "verifier without challenge", "/oauth/token", tokenForm(plain, verifier), []tls.Certificate{e.cert}, http.StatusBadRequest, "invalid_grant")
	for _, method := range []string{"plain", "", "s256"} {
		v := authParams("state-pkce-method", verifier)
		if method == "" {
			v.Del("code_challenge_method")
		} else {
			v.Set("code_challenge_method", method)
		}
		w := e.browser().get("/oauth/authorize?" + v.Encode())
		u, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || u == nil || u.Scheme+"://"+u.Host+u.Path != zuidCallback ||
			u.Query().Get("error") != "invalid_request" || u.Query().Get("code") != "" || u.Query().Get("state") != "state-pkce-method" {
			t.Errorf("code_challenge_method %q: %d %q, want invalid_request to the client", method, w.Code, w.Header().Get("Location"))
		}
	}
}

// redirect_uri variants at the token endpoint: a code issued for the
// registered redirect_uri is not redeemed with another (RFC 6749 §4.1.3).
// Control: the same code with the registered one.
func abuseTokenRedirectURI(t *testing.T, e *abuseEnv) {
	code := e.codeFor(t, e.browser(), "state-tru-"+uuid.NewString()[:8], "")
	for _, ru := range []string{zuidCallback + "/", "https://ZUID.localhost/oauth/callback", zuidCallback + "?x=1",
		"http://zuid.localhost/oauth/callback", "https://zuid.localhost:8443/oauth/callback", "https://evil.example/oauth/callback"} {
		f := tokenForm(code, "")
		f.Set("redirect_uri", ru)
		e.oauthRefusal(t, "token with redirect_uri "+ru, "/oauth/token", f, []tls.Certificate{e.cert}, http.StatusBadRequest, "invalid_grant")
	}
	if _, err := e.exchange(t, code, ""); err != nil {
		t.Errorf("control: the registered redirect_uri: %v", err)
	}
}

// A token or code used by another client: Vier (a PGO on the OCL, with its own
// valid certificate) cannot redeem Zuid's code (neither as itself nor in Zuid's
// name), cannot use Zuid's token at the FHIR API and cannot revoke it. Control:
// the token still works for Zuid.
func abuseTokenOtherClient(t *testing.T, e *abuseEnv) {
	vier := e.ca.pair(t, "vier.localhost", x509.ExtKeyUsageClientAuth)
	code := e.codeFor(t, e.browser(), "state-oc-"+uuid.NewString()[:8], "")
	asVier := tokenForm(code, "")
	asVier.Set("client_id", "vier.localhost")
	e.oauthRefusal(t, "Zuid's code redeemed by Vier", "/oauth/token", asVier, []tls.Certificate{vier}, http.StatusBadRequest, "invalid_grant")
	mismatch := countAudit(t, e.accountEnv, audit.ActClientAuthFailed, "", "certificate_mismatch")
	e.oauthRefusal(t, "Zuid's code, Zuid's name, Vier's certificate", "/oauth/token", tokenForm(code, ""), []tls.Certificate{vier}, http.StatusUnauthorized, "invalid_client")
	if countAudit(t, e.accountEnv, audit.ActClientAuthFailed, "", "certificate_mismatch") != mismatch+1 {
		t.Error("no client_auth_failed certificate_mismatch record")
	}
	tok, err := e.exchange(t, code, "")
	if err != nil {
		t.Fatalf("control: Zuid redeems its code after Vier's attempts: %v", err)
	}
	if a := e.fhirGet(t, search, tok.AccessToken, vier); a.status != http.StatusUnauthorized || !strings.Contains(a.auth, `error="invalid_token"`) {
		t.Errorf("Zuid's token used by Vier: %d %q", a.status, a.auth)
	}
	e.oauthRefusal(t, "Zuid's token revoked by Vier", "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {"vier.localhost"}},
		[]tls.Certificate{vier}, http.StatusBadRequest, "unauthorized_client")
	if a := e.fhirGet(t, search, tok.AccessToken, e.cert); a.status != http.StatusOK {
		t.Errorf("control: Zuid's token after Vier's attempts: %d", a.status)
	}
}

// A token used with another certificate: the token is bound to the certificate
// it was issued to (cnf x5t#S256, RFC 8705); another certificate of the same
// host from the same CA, or none, does not open the FHIR API; a certificate of
// another CA does not get past the TLS handshake. Control: the bound
// certificate.
func abuseTokenOtherCert(t *testing.T, e *abuseEnv) {
	tok, _ := e.tokenFor(t, e.browser())
	refusals := countAudit(t, e.accountEnv, audit.ActAccessRefused, "", "")
	same := e.ca.pair(t, zuid, x509.ExtKeyUsageClientAuth)
	if a := e.fhirGet(t, search, tok, same); a.status != http.StatusUnauthorized || !strings.Contains(a.auth, `error="invalid_token"`) ||
		!strings.Contains(a.body, "OperationOutcome") {
		t.Errorf("another certificate of Zuid: %d %q", a.status, a.auth)
	}
	if countAudit(t, e.accountEnv, audit.ActAccessRefused, "", "") <= refusals {
		t.Error("the refused token was not audited")
	}
	req, _ := http.NewRequest(http.MethodGet, e.base+FHIRBasePath+search, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := e.client().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no certificate: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	foreign := newKeyCA(t, "Other CA").pair(t, zuid, x509.ExtKeyUsageClientAuth)
	c := e.client()
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA got an HTTP answer: %d", resp.StatusCode)
	}
	if a := e.fhirGet(t, search, tok, e.cert); a.status != http.StatusOK {
		t.Errorf("control: the bound certificate: %d", a.status)
	}
}

// Another patient's documents by id at the FHIR API: with anouk's token, bart's
// export job is not found as DocumentReference or Binary (404, no hint that it
// exists), the refusal is audited, and the search lists anouk's document only.
// Control: anouk's own.
func abuseFHIROtherPatient(t *testing.T, e *abuseEnv) {
	tokA, jobA := e.tokenFor(t, e.browser())
	bb := e.browser()
	bb.login(t, "bart", e.bartSeed)
	_, jobB := e.tokenFor(t, bb)
	for _, j := range []string{jobA, jobB} {
		if err := e.jobs.Render(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/DocumentReference/" + jobB, "/Binary/" + jobB} {
		refused := countAudit(t, e.accountEnv, audit.ActFHIRRefused, "", "")
		mark := auditMark(t, e.db)
		a := e.fhirGet(t, p, tokA, e.cert)
		if a.status != http.StatusNotFound || !strings.Contains(a.body, `"code":"not-found"`) {
			t.Errorf("anouk's token, GET %s: %d %.200s", p, a.status, a.body)
		}
		if strings.Contains(a.body, "bart") || strings.Contains(a.body, "consent this token") {
			t.Errorf("GET %s tells that the document exists", p)
		}
		if countAudit(t, e.accountEnv, audit.ActFHIRRefused, "", "") != refused+1 {
			t.Errorf("GET %s of another patient's document is not audited", p)
		}
		if got := auditAfter(t, e.db, mark); len(got) != 1 || got[0] != "fhir_refused/other_patient" {
			t.Errorf("GET %s: audit records %q, want exactly one fhir_refused/other_patient", p, got)
		}
	}
	for _, q := range []string{search, search + "&_id=" + jobB, "/DocumentReference?_id=" + jobB} {
		if a := e.fhirGet(t, q, tokA, e.cert); strings.Contains(a.body, jobB) {
			t.Errorf("search %s with anouk's token shows bart's document: %d", q, a.status)
		}
	}
	for _, p := range []string{"/DocumentReference/" + jobA, "/Binary/" + jobA} {
		if a := e.fhirGet(t, p, tokA, e.cert); a.status != http.StatusOK {
			t.Errorf("control: anouk's own %s: %d %.200s", p, a.status, a.body)
		}
	}
}

// Another patient's received documents and transfers on the target pages: a
// patient asks for another's transfer, its events, its link to the source, its
// retry (with a valid CSRF token) and its document by id: 404 each, nothing
// changed, and the list of received documents shows only the patient's own.
// Control: the owner opens them.
func abuseTargetOtherPatient(t *testing.T, e *abuseEnv) {
	owner := e.loggedIn(t, "tina", account.RolePatient)
	id, cb := e.tgt.consentThroughPages(t, owner, nil)
	if w := owner.get(transfer.CallbackPath + "?" + cb.Encode()); w.Code != http.StatusSeeOther {
		t.Fatalf("callback: %d", w.Code)
	}
	if err := e.tgt.svc.Fetch(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	link := documentLinkRE.FindStringSubmatch(owner.get("/ophalen/" + id).Body.String())
	if link == nil {
		t.Fatal("no document link on the owner's finished transfer")
	}
	other := e.loggedIn(t, "tobias", account.RolePatient)
	before := dbState(t, e.accountEnv)
	for _, p := range []string{"/ophalen/" + id, "/ophalen/" + id + "/events", "/ophalen/" + id + "/toestemming", link[1]} {
		w := other.get(p)
		if w.Code != http.StatusNotFound || w.Header().Get("Location") != "" || strings.Contains(w.Body.String(), "%PDF") {
			t.Errorf("another patient GET %s: %d %q", p, w.Code, w.Header().Get("Location"))
		}
	}
	if w := other.post("/ophalen/"+id+"/opnieuw", form(csrfField, account.CSRFToken(other.session()))); w.Code != http.StatusNotFound {
		t.Errorf("another patient retries the transfer: %d", w.Code)
	}
	unchanged(t, e.accountEnv, before, "another patient's requests")
	if strings.Contains(other.get("/documenten").Body.String(), link[1]) {
		t.Error("another patient's received documents list shows the document")
	}
	if w := owner.get(link[1]); w.Code != http.StatusOK || w.Body.String() != string(e.tgt.pdf) {
		t.Errorf("control: the owner's download: %d", w.Code)
	}
	if !strings.Contains(owner.get("/documenten").Body.String(), link[1]) {
		t.Error("control: the owner's list lacks the document")
	}
}

// Another patient's grant on the source: bart cannot withdraw anouk's consent
// by its id (valid CSRF token of his own session): 404, the grant stays active.
// Control: anouk withdraws it.
func abuseWithdrawOtherPatient(t *testing.T, e *abuseEnv) {
	g := e.activeGrant(t, e.browser())
	bart := e.browser()
	bart.login(t, "bart", e.bartSeed)
	before := dbState(t, e.accountEnv)
	w := bart.post("/toestemmingen/"+g+"/intrekken", form(csrfField, account.CSRFToken(bart.session())))
	if w.Code != http.StatusNotFound {
		t.Errorf("bart withdraws anouk's grant: %d", w.Code)
	}
	unchanged(t, e.accountEnv, before, "bart's withdrawal of anouk's grant")
	if strings.Contains(bart.get("/toestemmingen").Body.String(), g) {
		t.Error("bart's grants page shows anouk's grant")
	}
	anouk := e.loggedIn(t, patientName, account.RolePatient)
	if w := anouk.post("/toestemmingen/"+g+"/intrekken", form(csrfField, account.CSRFToken(anouk.session()))); w.Code != http.StatusSeeOther {
		t.Errorf("control: anouk withdraws: %d", w.Code)
	}
	grants, _ := e.svc.Grants(context.Background(), e.patient)
	for _, x := range grants {
		if x.ID == g && x.State == consent.StateActive {
			t.Error("control: the grant is active after anouk withdrew it")
		}
	}
}

// The target's redirect_uri fed another session's answer (RFC 6749 §10.12, the
// client-side CSRF): an attacker's own state and code, loaded in a victim's
// browser, are refused (the state belongs to the attacker's transfer and
// session), nothing changes; the owner's callback, loaded a second time
// (replay, a reload), shows the transfer's progress and redeems nothing, queues
// no second fetch. Control: the owner's own
// callback goes on to the transfer.
func abuseTargetCallback(t *testing.T, e *abuseEnv) {
	attacker := e.loggedIn(t, "teun", account.RolePatient)
	id, cb := e.tgt.consentThroughPages(t, attacker, nil)
	victim := e.loggedIn(t, "tess", account.RolePatient)
	before := dbState(t, e.accountEnv)
	w := victim.get(transfer.CallbackPath + "?" + cb.Encode())
	if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
		t.Errorf("the attacker's callback in the victim's browser: %d %q, want 400", w.Code, w.Header().Get("Location"))
	}
	unchanged(t, e.accountEnv, before, "the attacker's callback in the victim's browser")
	if w := attacker.get(transfer.CallbackPath + "?" + cb.Encode()); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ophalen/"+id {
		t.Fatalf("control: the owner's callback: %d %q", w.Code, w.Header().Get("Location"))
	}
	before = dbState(t, e.accountEnv)
	if w := attacker.get(transfer.CallbackPath + "?" + cb.Encode()); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ophalen/"+id {
		t.Errorf("the owner's callback replayed: %d %q, want the transfer's progress (and nothing redeemed)", w.Code, w.Header().Get("Location"))
	}
	for _, tbl := range []string{"transfer", "outbox", "transfer_document"} {
		if dbState(t, e.accountEnv)[tbl] != before[tbl] {
			t.Errorf("the replayed callback changed %s", tbl)
		}
	}
}

// Authorization response tampering: a response_mode (form_post, fragment, ...)
// or a response_type other than code (the implicit "token") is sent back to the
// verified redirect_uri as invalid_request (unsupported_response_type), from
// the screen and from the posted decision, with no code or token in the query
// or a fragment, and no grant.
func abuseResponseTampering(t *testing.T, e *abuseEnv) {
	b := e.loggedIn(t, patientName, account.RolePatient)
	before := dbState(t, e.accountEnv)
	for _, p := range [][2]string{{"response_mode", "form_post"}, {"response_mode", "fragment"}, {"response_mode", "query"},
		{"response_type", "token"}, {"response_type", "code token"}, {"response_type", "code id_token"}} {
		v := authParams("state-rt-0001", "")
		v.Set(p[0], p[1])
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			w := b.get("/oauth/authorize?" + v.Encode())
			if m == http.MethodPost {
				f := url.Values{}
				for k, x := range v {
					f[k] = x
				}
				f.Set("decision", "allow")
				f.Set("category", "problems")
				f.Set(csrfField, account.CSRFToken(b.session()))
				w = b.post("/oauth/authorize", f)
			}
			loc := w.Header().Get("Location")
			u, _ := url.Parse(loc)
			want := "invalid_request"
			if p[0] == "response_type" {
				want = "unsupported_response_type" // RFC 6749 §4.1.2.1
			}
			if w.Code != http.StatusSeeOther || u == nil || u.Scheme+"://"+u.Host+u.Path != zuidCallback || u.Fragment != "" ||
				u.Query().Get("error") != want || u.Query().Get("code") != "" || u.Query().Get("access_token") != "" {
				t.Errorf("%s %s=%s: %d %q, want %s to the client", m, p[0], p[1], w.Code, loc, want)
			}
		}
	}
	for _, tbl := range []string{"oauth_code", "oauth_token", "consent_grant", "export_job"} {
		if dbState(t, e.accountEnv)[tbl] != before[tbl] {
			t.Errorf("a tampered authorization request changed %s", tbl)
		}
	}
}

// Code replay, racing: one code redeemed by several requests at once yields
// exactly one token (the code is used atomically in PostgreSQL); the rest are
// invalid_grant, and because they are replays the one token is revoked too.
func abuseCodeReplayConcurrent(t *testing.T, e *abuseEnv) {
	code := e.codeFor(t, e.browser(), "state-race-"+uuid.NewString()[:8], "")
	const n = 6
	toks, errs := make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.exchange(t, code, "")
			if err == nil {
				toks[i] = tok.AccessToken
			}
			errs[i] = oauthCode(err)
		}()
	}
	wg.Wait()
	won := ""
	for i := range n {
		switch {
		case errs[i] == "" && won == "":
			won = toks[i]
		case errs[i] != "invalid_grant":
			t.Errorf("racing redemptions: outcomes %q, want one token and %d invalid_grant", errs, n-1)
		}
	}
	if won == "" {
		t.Fatalf("control: no racing redemption got the token: %q", errs)
	}
	if a := e.fhirGet(t, search, won, e.cert); a.status != http.StatusUnauthorized {
		t.Errorf("the one token after the racing replays: %d, want 401", a.status)
	}
}
