package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// The consent tests run one source PGO ("PGO Noord", noord.localhost) with the
// real account, dossier, export, audit and consent services on a fresh database,
// served by the real HTTPS listener (Server.Serve) with mutual TLS from a test CA.
// Clients: zuid.localhost (on the OCL, gegevensdienst 51), vier.localhost (on the
// OCL for gegevensdienst 4 only), weg.localhost (redirects registered here but not
// on the OCL).
const (
	testIssuer   = "https://noord.localhost:8443"
	zuid         = "zuid.localhost"
	zuidCallback = "https://zuid.localhost/oauth/callback"
	patientName  = "anouk"
)

const testOCL = `<?xml version="1.0" encoding="UTF-8"?>
<OAuthclientlist xmlns="xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/">
  <Tijdstempel>2026-11-23T10:00:00Z</Tijdstempel>
  <Volgnummer>1</Volgnummer>
  <OAuthclients>
    <OAuthclient><Hostname>zuid.localhost</Hostname><OAuthclientOrganisatienaam>PGO Zuid</OAuthclientOrganisatienaam>
      <Gegevensdiensten><Gegevensdienst><GegevensdienstId>51</GegevensdienstId></Gegevensdienst></Gegevensdiensten></OAuthclient>
    <OAuthclient><Hostname>vier.localhost</Hostname><OAuthclientOrganisatienaam>PGO Vier</OAuthclientOrganisatienaam>
      <Gegevensdiensten><Gegevensdienst><GegevensdienstId>4</GegevensdienstId></Gegevensdienst></Gegevensdiensten></OAuthclient>
    <OAuthclient><Hostname>onbekend.localhost</Hostname><OAuthclientOrganisatienaam>PGO Onbekend</OAuthclientOrganisatienaam></OAuthclient>
  </OAuthclients>
</OAuthclientlist>`

const testGNL = `<?xml version="1.0" encoding="UTF-8"?>
<Gegevensdienstnamenlijst xmlns="xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/">
  <Tijdstempel>2026-11-23T10:00:00Z</Tijdstempel>
  <Volgnummer>1</Volgnummer>
  <Gegevensdiensten><Gegevensdienst><GegevensdienstId>51</GegevensdienstId><Weergavenaam>Verzamelen Documenten 3.0 (pdf/a)</Weergavenaam></Gegevensdienst></Gegevensdiensten>
</Gegevensdienstnamenlijst>`

// consentEnv is the source PGO under test.
type consentEnv struct {
	*accountEnv
	svc     *consent.Service
	ca      *keyCA
	base    string // https://127.0.0.1:port of the real listener
	seed    []byte // the patient's TOTP seed
	patient string // the patient's account id
	cert    tls.Certificate
	// redirects are the registered redirect URIs (the service reads this map,
	// so a test may add one, e.g. on the browser test's port).
	redirects map[string][]string
	jobs      *export.Jobs
	sealer    *vault.Vault // seals the patient's dossier
}

type consentOpts struct {
	requirePKCE bool
	// realTime runs the authorization server on time.Now instead of the test
	// clock: fosite stamps a code's expiry with time.Now, so a suite that moves
	// the test clock by more than the code's 60 s (one TOTP step per login)
	// would see every code as expired.
	realTime bool
	// noOCL starts the server without the OAuth Client List loaded.
	noOCL bool
	// quota bounds the audit records of unauthenticated token requests.
	quota *audit.Quota
	// maxItems is the most items a consent may select (0: the default).
	maxItems int
}

func newConsentEnv(t *testing.T, o consentOpts) *consentEnv {
	t.Helper()
	ca := newKeyCA(t, "PGO Test CA")
	srvCert, srvKey := ca.files(t, "noord.localhost", x509.ExtKeyUsageServerAuth)
	e := &consentEnv{ca: ca}
	e.accountEnv = newAccountEnvEdit(t, func(c *config.Config) {
		c.TLSCert, c.TLSKey, c.ClientCA, c.PublicURL = srvCert, srvKey, ca.file, testIssuer
	})
	ctx := context.Background()
	sealer := testSealer(t)
	dos := dossier.New(dossierdb.New(e.db), sealer)
	jobs := export.NewJobs(export.JobsConfig{Store: exportdb.New(e.db, worker.NewRenderTask), Dossier: dos, Sealer: sealer, Source: "PGO Noord"})
	lists := zal.NewStatic(mustList(t, testOCL), mustList(t, testGNL))
	if o.noOCL {
		lists = zal.NewStatic(mustList(t, testGNL))
	}
	key, err := vault.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	e.jobs, e.sealer = jobs, sealer
	now := e.clock.now
	if o.realTime {
		now = time.Now
	}
	e.redirects = map[string][]string{
		zuid: {zuidCallback}, "vier.localhost": {"https://vier.localhost/cb"}, "weg.localhost": {"https://weg.localhost/cb"},
	}
	e.svc, err = consent.New(consent.Config{Issuer: testIssuer + "/", ProviderName: "noord", RequirePKCE: o.requirePKCE,
		Redirects: e.redirects, MaxItems: o.maxItems}, consent.Deps{Store: consentdb.New(e.db, exportdb.New(e.db, worker.NewRenderTask)), Lists: lists,
		Dossier: dos, Exports: jobs, Signer: key, Now: now, Unauthenticated: o.quota})
	if err != nil {
		t.Fatal(err)
	}
	e.s.MountConsent(ConsentDeps{Service: e.svc, Accounts: e.accountEnv.svc})
	e.patient, e.seed = e.createUser(t, patientName, account.RolePatient)
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dos.Import(ctx, e.patient, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	e.cert = ca.pair(t, zuid, x509.ExtKeyUsageClientAuth)
	e.base = e.serve(t)
	return e
}

// createUser makes an account and returns its id and TOTP seed.
func (e *consentEnv) createUser(t *testing.T, name string, role account.Role) (string, []byte) {
	t.Helper()
	en, err := e.accountEnv.svc.Create(context.Background(), name, role, testPassword, account.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(en.URI)
	seed, err := acctB32.DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, en.RecoveryCodes...)
	e.seeds[name] = seed
	return en.Account.ID, seed
}

// newAccountEnvEdit is newAccountEnv on a configuration changed by edit (TLS
// material, client CA, public URL).
func newAccountEnvEdit(t *testing.T, edit func(*config.Config)) *accountEnv {
	t.Helper()
	db := storetest.DB(t)
	svc, err := account.New(accountdb.New(db, auditdb.Append), testSealer(t), testAccountConfig)
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	svc.SetClock(clk.now)
	s, logs := newTestServer(t, edit)
	s.MountAccount(AccountDeps{Service: svc, Audit: auditLog{auditdb.New(db, nil), db}})
	e := &accountEnv{s: s, logs: logs, db: db, svc: svc, clock: clk, secrets: []string{testPassword},
		seeds: map[string][]byte{}}
	t.Cleanup(func() { checkLogSecrets(t, logs.String(), e.secrets) })
	return e
}

// wordChars are the characters a secret's whole-word match may not touch.
const wordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// checkLogSecrets fails the test when a secret appears in a log line (see
// logLeaks), or when no access log line was captured at all.
func checkLogSecrets(t *testing.T, out string, secrets []string) {
	if !strings.Contains(out, "request") {
		t.Error("no access log lines were captured; the secret check would prove nothing")
	}
	for _, l := range logLeaks(out, secrets) {
		t.Error(l)
	}
}

// logLeaks lists what must not be in the log but is: any of secrets (passwords,
// TOTP and recovery codes, session ids, authorization codes, access tokens) as a
// whole word, and any BSN-like number (nine digits passing the elfproef).
func logLeaks(out string, secrets []string) []string {
	var leaks []string
	// A secret made of word characters only appears as a whole word exactly
	// when it is one of the log's maximal runs of them: one pass over the log
	// instead of a regular expression per secret (hundreds in a long suite).
	isWord := func(r rune) bool { return !strings.ContainsRune(wordChars, r) }
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(out, isWord) {
		words[w] = true
	}
	for _, sec := range secrets {
		leak := false
		switch {
		case sec == "":
		case strings.IndexFunc(sec, isWord) < 0:
			leak = words[sec]
		default:
			leak = regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(sec) + `($|[^A-Za-z0-9_-])`).MatchString(out)
		}
		if leak {
			leaks = append(leaks, fmt.Sprintf("a secret (%d chars) appears in the log", len(sec)))
		}
	}
	for _, m := range regexp.MustCompile(`(^|[^0-9.])([0-9]{9})($|[^0-9Z])`).FindAllStringSubmatch(out, -1) {
		if audit.LooksLikeBSN(m[2]) {
			leaks = append(leaks, "a BSN-like number appears in the log")
		}
	}
	return leaks
}

func mustList(t *testing.T, xml string) zal.List {
	t.Helper()
	l, err := zal.Parse([]byte(xml), zal.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// serve runs the real HTTPS listener (TLS 1.2+, client certificates verified
// against PGO_CLIENT_CA) on a loopback port until the test ends.
func (e *consentEnv) serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Serve(ctx, Listeners{TLS: ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// client is an HTTPS client that trusts the test CA and presents certs.
func (e *consentEnv) client(certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.cert)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: certs, ServerName: "noord.localhost", MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// authParams is a good authorization request of PGO Zuid.
func authParams(state, challenge string) url.Values {
	v := url.Values{"response_type": {"code"}, "client_id": {zuid}, "redirect_uri": {zuidCallback},
		"scope": {"noord~51"}, "state": {state}, "MedMij-Request-ID": {"7d1c5f6e-0d3b-4a55-9f4e-2f1a3b4c5d6e"},
		"X-Correlation-ID": {"c0ffee00-1111-4222-8333-444455556666"}}
	if challenge != "" {
		v.Set("code_challenge", challenge)
		v.Set("code_challenge_method", "S256")
	}
	return v
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var hiddenCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consentTo logs the patient in (once per browser) and answers the consent
// screen for params; it returns the redirect the browser was sent to.
func (e *consentEnv) consentTo(t *testing.T, b *browser, params url.Values, decision string, cats ...string) *url.URL {
	t.Helper()
	if b.session() == "" {
		b.login(t, patientName, e.seed)
	}
	w := b.get("/oauth/authorize?" + params.Encode())
	if w.Code != http.StatusOK {
		t.Fatalf("consent screen: %d %s\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	m := hiddenCSRF.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("no CSRF token on the consent screen")
	}
	form := url.Values{"csrf": {m[1]}, "decision": {decision}}
	for k, v := range params {
		form[k] = v
	}
	form["category"] = cats
	w = b.post("/oauth/authorize", form)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("decision %s: %d\n%s", decision, w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if c := u.Query().Get("code"); c != "" {
		e.secrets = append(e.secrets, c)
	}
	return u
}

// auditRecords returns the audit records of action.
func (e *consentEnv) auditRecords(t *testing.T, a audit.Action) []audit.Record {
	t.Helper()
	p, err := auditdb.New(e.db, nil).Query(context.Background(), audit.Filter{Actions: []audit.Action{a}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return p.Records
}

// wantAudit checks that an audit record of action with outcome reason exists.
func (e *consentEnv) wantAudit(t *testing.T, a audit.Action, reason string) audit.Record {
	t.Helper()
	for _, r := range e.auditRecords(t, a) {
		if r.Reason == reason {
			return r
		}
	}
	t.Fatalf("no audit record %s with reason %q", a, reason)
	return audit.Record{}
}

// keyCA is a test CA that also hands out the private keys of what it issues.
type keyCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newKeyCA(t *testing.T, name string) *keyCA {
	t.Helper()
	c := newTestCA(t, name)
	return &keyCA{cert: c.cert, key: c.key, file: c.file}
}

func (ca *keyCA) issue(t *testing.T, host string, eku x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// pair returns a client or server certificate with its key.
func (ca *keyCA) pair(t *testing.T, host string, eku x509.ExtKeyUsage) tls.Certificate {
	der, key := ca.issue(t, host, eku)
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// files writes a certificate and its key (mode 0600) and returns their paths.
func (ca *keyCA) files(t *testing.T, host string, eku x509.ExtKeyUsage) (string, string) {
	der, key := ca.issue(t, host, eku)
	dir := t.TempDir()
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := errors.Join(os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

// thumbprint is the x5t#S256 of a certificate.
func thumbprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func hasAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// totpNow is the patient's current TOTP code (remembered as a secret).
func totpNow(e *consentEnv) string {
	c := account.TOTPCode(e.seed, account.TOTPStep(e.clock.now()))
	e.secrets = append(e.secrets, c)
	return c
}
