package server

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// auditLog adapts auditdb to AuditLog (cmd/pgo does the same).
type auditLog struct {
	*auditdb.Store
	db *store.DB
}

func (l auditLog) Record(ctx context.Context, ev audit.Event) error {
	return auditdb.Record(ctx, l.db, ev)
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// accountEnv is a server with the account pages on a fresh database.
type accountEnv struct {
	s     *Server
	logs  *syncBuffer
	db    *store.DB
	svc   *account.Service
	clock *testClock
	// secrets collects every password, code and session id the test used, to
	// check that none of them reaches a log line.
	secrets []string
	// seeds holds each account's current TOTP seed (tests that enrol a new
	// authenticator update it).
	seeds map[string][]byte
}

const testPassword = "lang-genoeg-wachtwoord"

// testAccountConfig is the account configuration of the page tests.
var testAccountConfig = account.Config{
	Argon2:      account.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1},
	IdleTimeout: 15 * time.Minute, AbsoluteTimeout: 8 * time.Hour,
	MaxFailures: 3, LockoutDuration: 15 * time.Minute, IPLimit: 1000, IPWindow: 15 * time.Minute,
	Issuer: "PGO Test",
}

// testSealer is a real vault on a keyset made for the test: the TOTP seeds are
// sealed as in production.
func testSealer(t *testing.T) *vault.Vault {
	t.Helper()
	v, _ := vaulttest.New(t)
	return v
}

// newAccountEnv builds the env; edit may change the dependencies (e.g. add OIDC).
func newAccountEnv(t *testing.T, edit ...func(*account.Service, *AccountDeps)) *accountEnv {
	return newAccountEnvConfig(t, testAccountConfig, edit...)
}

func newAccountEnvConfig(t *testing.T, cfg account.Config, edit ...func(*account.Service, *AccountDeps)) *accountEnv {
	t.Helper()
	db := storetest.DB(t)
	svc, err := account.New(accountdb.New(db, auditdb.Append), testSealer(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	svc.SetClock(clk.now)
	s, logs := newTestServer(t, nil)
	deps := AccountDeps{Service: svc, Audit: auditLog{auditdb.New(db, nil), db}}
	for _, f := range edit {
		f(svc, &deps)
	}
	s.MountAccount(deps)
	e := &accountEnv{s: s, logs: logs, db: db, svc: svc, clock: clk, secrets: []string{testPassword},
		seeds: map[string][]byte{}}
	t.Cleanup(func() {
		out := logs.String()
		if !strings.Contains(out, "request") {
			t.Error("no access log lines were captured; the secret check would prove nothing")
		}
		for _, sec := range e.secrets {
			// Whole tokens only: a 6-digit code may occur inside a request id by chance.
			if sec != "" && regexp.MustCompile(`(^|[^A-Za-z0-9])`+regexp.QuoteMeta(sec)+`($|[^A-Za-z0-9])`).MatchString(out) {
				t.Errorf("a secret (%d chars) appears in the log", len(sec))
			}
		}
	})
	return e
}

// user creates an account and returns its TOTP seed.
func (e *accountEnv) user(t *testing.T, name string, role account.Role) []byte {
	t.Helper()
	en, err := e.svc.Create(context.Background(), name, role, testPassword, account.Client{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(en.URI)
	secret, err := acctB32.DecodeString(u.Query().Get("secret"))
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, en.RecoveryCodes...)
	e.seeds[name] = secret
	return secret
}

// browser keeps the cookies of one user agent.
type browser struct {
	e       *accountEnv
	cookies map[string]*http.Cookie
	ip      string
}

func (e *accountEnv) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, ip: "192.0.2.1"}
}

func (b *browser) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.RemoteAddr = b.ip + ":4711"
	req.Header.Set("Accept", "text/html")
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := do(b.e.s, req)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
		if c.Name == sessionCookie {
			b.e.secrets = append(b.e.secrets, c.Value)
		}
	}
	return w
}

func (b *browser) get(path string) *httptest.ResponseRecorder { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	return b.do(http.MethodPost, path, form)
}

func (b *browser) session() string {
	if c, ok := b.cookies[sessionCookie]; ok {
		return c.Value
	}
	return ""
}

var acctB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf fetches path and returns the form's token.
func (b *browser) csrf(t *testing.T, path string) string {
	t.Helper()
	w := b.get(path)
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("GET %s (%d): no CSRF token in the form", path, w.Code)
	}
	return m[1]
}

// login runs both steps through the pages and returns the TOTP code used.
func (b *browser) login(t *testing.T, name string, secret []byte) {
	t.Helper()
	w := b.post("/login", url.Values{"csrf": {b.csrf(t, "/login")}, "name": {name}, "password": {testPassword}})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login/code") {
		t.Fatalf("password step: %d %s", w.Code, w.Header().Get("Location"))
	}
	code := account.TOTPCode(secret, account.TOTPStep(b.e.clock.now()))
	b.e.secrets = append(b.e.secrets, code)
	w = b.post("/login/code", url.Values{"csrf": {b.csrf(t, "/login/code")}, "code": {code}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("code step: %d\n%s", w.Code, w.Body)
	}
	b.e.clock.add(30 * time.Second) // the next login needs a fresh TOTP step
}
