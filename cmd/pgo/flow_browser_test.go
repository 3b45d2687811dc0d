package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// TestFlowBrowser is the product's reason to exist, shown in a real browser on
// the real `pgo demo` (issue 13): the patient logs in at PGO Zuid (password +
// TOTP), chooses PGO Noord, logs in there (password + TOTP), sees the consent
// screen naming PGO Zuid, leaves out one category, consents, comes back to Zuid,
// watches the progress reach "done" and opens the PDF. Then: the PDF's text has
// the chosen categories and not the one left out; the document Zuid stored
// decrypts to exactly the bytes Noord rendered; both audit logs hold the transfer
// under one correlation id (`pgo audit export --correlation-id`); the grant and
// its token are ended at Noord. In Dutch, in English, and in Dutch with
// JavaScript off. A "no" ends calmly at Zuid with nothing stored, and "Opnieuw
// proberen" after it completes the transfer; so does a retry after a failure (a
// code Noord never issued). axe-core checks every page. The Dutch run uses the
// logins `pgo demo` prints; the others get their own patients, because a login
// code is accepted once only.
func TestFlowBrowser(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext (Debian poppler-utils) is needed: ", err)
	}
	d := startFlowDemo(t)
	bctx := flowBrowser(t, filepath.Join(d.dir, "certs", "noord.localhost.pem"), filepath.Join(d.dir, "certs", "zuid.localhost.pem"))
	refusesOtherCertificates(t, bctx)
	axe := browsertest.Axe(t)
	shots := *flowShots
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, lang string
		js         bool
		mode       string // "": consent at once; "deny": no, then retry; "forged": a failure, then retry
		shots      string
	}{
		{"nl", "nl", true, "", shots},
		{"en", "en", true, "", shots},
		{"nl-without-javascript", "nl", false, "", ""},
		{"no-then-retry", "nl", true, "deny", shots},
		{"failure-then-retry-without-javascript", "nl", false, "forged", shots},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			ft := newFlowTab(t, bctx, axe, c.lang, c.js, c.shots)
			d.flow(t, ft, c.mode)
			t.Logf("%s: %d pages checked by axe, %s", c.name, ft.checked, time.Since(start).Round(time.Millisecond))
		})
	}
	d.noSecretsInLogs(t)
}

// flowDemo is a running `pgo demo` with its own databases and Redis DBs.
type flowDemo struct {
	dir, prefix string
	j           demoJSON
	st          *demoState
	noord, zuid string // origins
	pass        map[string]string
	used        bool // the seeded patient has had its turn
}

func startFlowDemo(t *testing.T) *flowDemo {
	t.Helper()
	d := &flowDemo{dir: filepath.Join(t.TempDir(), "demo"), prefix: fmt.Sprintf("pgo_flowtest_%d", time.Now().UnixNano()%1e9)}
	t.Cleanup(func() { dropDemoDatabases(t, d.prefix) })
	jsonOut := filepath.Join(t.TempDir(), "demo.json")
	p := startPGO(t, nil, "pgo demo ready in ", "demo", "--dir", d.dir, "--db-prefix", d.prefix, "--postgres", storetest.BaseURL(),
		"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t), "--json-out", jsonOut,
		"--noord-port", "0", "--zuid-port", "0")
	t.Logf("pgo demo ready in %s", p.Addr)
	d.j = readDemoJSON(t, jsonOut)
	t.Cleanup(func() {
		if t.Failed() {
			for _, k := range []string{"noord", "zuid"} {
				for _, f := range []string{"serve.log", "worker.log"} {
					b, _ := os.ReadFile(filepath.Join(d.dir, k, f))
					t.Logf("%s/%s (tail):\n%s", k, f, tail(string(b), 3000))
				}
			}
		}
		stopDemo(t, p, d.j)
	})
	st, err := loadDemoState(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	d.st = st
	d.noord = strings.TrimSuffix(d.j.Instances[0].URL, "/")
	d.zuid = strings.TrimSuffix(d.j.Instances[1].URL, "/")
	d.pass = map[string]string{}
	for _, u := range d.j.Users {
		d.pass[u.Name] = u.Password
	}
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// login fills the password and the TOTP step of instance key ("noord", "zuid").
func (d *flowDemo) login(t *testing.T, ft *flowTab, key, user string) {
	t.Helper()
	ft.check(key + "-1-login")
	ft.fill("name", user)
	ft.fill("password", d.pass[user])
	ft.click(`form[action^="/login"]:not([action^="/login/code"]) button[type=submit]`)
	ft.check(key + "-2-login-code")
	ft.fill("code", d.code(t, key, user))
	ft.click(`form[action^="/login/code"] button[type=submit]`)
}

// code is the login code user's authenticator shows now, read from the
// instance's database as `pgo demo totp` does.
func (d *flowDemo) code(t *testing.T, key, user string) string {
	t.Helper()
	var code string
	d.withApp(t, key, func(ctx context.Context, svc *account.Service, _ *App) {
		var err error
		if code, err = svc.DemoCode(ctx, user, time.Now()); err != nil {
			t.Fatalf("login code of %s: %v", user, err)
		}
	})
	return code
}

// withApp opens instance key's App (database and vault) in this process, as the
// demo's own seeding does.
func (d *flowDemo) withApp(t *testing.T, key string, fn func(context.Context, *account.Service, *App)) {
	t.Helper()
	ctx := context.Background()
	a, err := openApp(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, getenv: d.st.lookup(d.dir, d.st.instance(key))}, "test", discard{}, needDB|needVault)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	svc, _, err := a.accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fn(ctx, svc, a)
}

// patient adds the person of variant name to both instances (a login code is
// single-use, so each variant has its own accounts): at Noord holding MedMij's
// test patient like the demo's anouk@noord, at Zuid with an empty dossier.
func (d *flowDemo) patient(t *testing.T, name string) (noord, zuid string) {
	t.Helper()
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"noord", "zuid"} {
		user := name + "@" + key
		d.pass[user] = demoPassword()
		d.withApp(t, key, func(ctx context.Context, svc *account.Service, a *App) {
			en, err := svc.Create(ctx, user, account.RolePatient, d.pass[user], account.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if key == "noord" {
				if _, err := a.dossiers().Import(ctx, en.Account.ID, in, dossier.ImportOptions{ActorType: "system", ActorID: "test"}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	return name + "@noord", name + "@zuid"
}

// flow runs one patient's transfer through the pages; with deny the patient
// first says no and then tries again.
func (d *flowDemo) flow(t *testing.T, ft *flowTab, mode string) {
	noordUser, zuidUser := "anouk@noord", "anouk@zuid" // as seeded and printed by pgo demo
	if d.used {
		noordUser, zuidUser = d.patient(t, "p-"+strings.ReplaceAll(t.Name()[len("TestFlowBrowser/"):], "-", ""))
	}
	d.used = true
	ft.open(d.zuid + "/") // the address `pgo demo` prints
	ft.check("zuid-0-home")
	ft.click(`main a[href="/login"]`)
	d.login(t, ft, "zuid", zuidUser)
	ft.click(`nav.menu a[href="/ophalen"]`)
	ft.check("zuid-3-choose-source")
	radio := ft.eval(`(() => { const l = [...document.querySelectorAll("#bron-list label")].find(l => l.textContent.trim() === "PGO Noord");
		return l ? l.htmlFor : ""; })()`)
	if radio == "" {
		t.Fatalf("no source labelled PGO Noord on the choice page:\n%s", ft.text())
	}
	if got := ft.eval(`[...document.querySelectorAll("#bron-list label")].map(l => l.textContent.trim()).join("|")`); got != "PGO Noord" {
		t.Errorf("PGO Zuid offers the sources %q, want only PGO Noord (not itself)", got)
	}
	ft.tick("#" + radio)
	ft.click(`#bron-list ~ p.actions button[type=submit]`)
	m := transferPath.FindStringSubmatch(ft.location())
	if m == nil {
		t.Fatalf("after choosing: at %s", ft.location())
	}
	id := m[1]
	ft.check("zuid-4-go-to-source")
	ft.click(`a[href$="/toestemming"]`)
	if !strings.HasPrefix(ft.location(), d.noord+"/login") {
		t.Fatalf("not at Noord's login: %s", ft.location())
	}
	if mode == "forged" {
		d.forged(t, ft, id)
	}
	d.login(t, ft, "noord", noordUser)
	if mode == "deny" {
		d.consentScreen(t, ft)
		ft.click(`button[name=decision][value=refuse]`)
		d.denied(t, ft, id)
		ft.click(`form[action$="/opnieuw"] button[type=submit]`)
		if transferPath.FindStringSubmatch(ft.location()) == nil || strings.HasSuffix(ft.location(), id) {
			t.Fatalf("after Opnieuw proberen: at %s, want a new transfer", ft.location())
		}
		ft.check("zuid-4-go-to-source-again")
		ft.click(`a[href$="/toestemming"]`) // still logged in at Noord: straight to consent
	}
	selected, left := d.consentScreen(t, ft)
	ft.tick("#cat-" + string(left))
	ft.click(`button[name=decision][value=allow]`)
	if !strings.HasPrefix(ft.location(), d.zuid+"/ophalen/") {
		t.Fatalf("not back at Zuid's progress page: %s", ft.location())
	}
	id = transferPath.FindStringSubmatch(ft.location())[1]
	// The page gets to the result by itself: with JavaScript it follows the
	// event stream (and reloads at the end), without it it refreshes itself.
	t.Logf("back at Zuid, the transfer is still running: %s", ft.eval(`String(!!document.getElementById("transfer-steps") && !document.querySelector(".notice-success"))`))
	ft.waitFor(".notice-success", 90*time.Second)
	ft.check("zuid-6-done")
	pdf := ft.download(`a[href^="/documenten/"]`, 30*time.Second)
	ft.open(d.zuid + "/documenten")
	ft.check("zuid-7-received-documents")
	ft.open(d.noord + "/toestemmingen")
	ft.check("noord-8-my-consents")
	d.verify(t, id, pdf, selected, left)
}

// forged: while the patient is at Noord's login, an answer with the transfer's
// state and Noord's issuer but a code Noord never issued reaches Zuid's
// redirect_uri (a tampered or replayed link). Noord's token endpoint refuses the
// code over mutual TLS, the transfer fails plainly with nothing stored, and
// "Opnieuw proberen" leads to a new transfer and back to Noord's login.
func (d *flowDemo) forged(t *testing.T, ft *flowTab, id string) {
	t.Helper()
	loc, err := url.Parse(ft.location())
	if err != nil {
		t.Fatal(err)
	}
	next, err := url.Parse(loc.Query().Get("next"))
	if err != nil || next.Query().Get("state") == "" {
		t.Fatalf("no state in the authorization request: %s", ft.location())
	}
	ft.open(d.zuid + "/oauth/callback?" + url.Values{"code": {"forged-code"}, "state": {next.Query().Get("state")},
		"iss": {d.noord}}.Encode())
	if !strings.HasSuffix(ft.location(), "/ophalen/"+id) {
		t.Fatalf("after the forged answer: at %s", ft.location())
	}
	ft.check("zuid-5-failed")
	var status string
	var docs int
	if err := d.db(t, "zuid").QueryRow(context.Background(), `select status, (select count(*) from transfer_document where transfer_id = $1)
		from transfer where id = $1`, id).Scan(&status, &docs); err != nil {
		t.Fatal(err)
	}
	var reason string
	_ = d.db(t, "zuid").QueryRow(context.Background(), `select coalesce(failure, '') from transfer where id = $1`, id).Scan(&reason)
	if status != "failed" || reason != "token_refused" || docs != 0 || ft.eval(`String(document.querySelectorAll(".error-summary").length)`) != "1" {
		t.Errorf("after the forged answer: %s (%s) with %d documents; page:\n%s", status, reason, docs, ft.text())
	}
	ft.click(`form[action$="/opnieuw"] button[type=submit]`)
	if transferPath.FindStringSubmatch(ft.location()) == nil {
		t.Fatalf("after Opnieuw proberen: at %s", ft.location())
	}
	ft.click(`a[href$="/toestemming"]`)
	if !strings.HasPrefix(ft.location(), d.noord+"/login") {
		t.Fatalf("retry: not at Noord's login: %s", ft.location())
	}
}

// readsOne reports whether the consent screen's text, in either language,
// counts a part of one item in the singular ("1 gegeven", "1 item") and none as
// "1 gegevens" or "1 items".
func readsOne(txt string) bool {
	singular := false
	for _, l := range web.Langs {
		if strings.Contains(txt, "("+web.T(l, "consent.count", "1")+")") {
			return false
		}
		singular = singular || strings.Contains(txt, "("+web.T(l, "consent.count_one")+")")
	}
	return singular
}

// consentScreen checks Noord's consent screen: it names PGO Zuid and offers the
// categories; it returns the categories that stay ticked and the one the patient
// leaves out (medication).
func (d *flowDemo) consentScreen(t *testing.T, ft *flowTab) (selected []dossier.Category, left dossier.Category) {
	t.Helper()
	if !strings.HasPrefix(ft.location(), d.noord+"/oauth/authorize") {
		t.Fatalf("not at Noord's consent screen: %s", ft.location())
	}
	ft.check("noord-5-consent")
	if txt := ft.text(); !strings.Contains(txt, "PGO Zuid") || !strings.Contains(txt, "PGO Noord") {
		t.Errorf("the consent screen does not name PGO Zuid and PGO Noord:\n%s", txt)
	} else if strings.Contains(txt, "PGO PGO") || !readsOne(txt) {
		t.Errorf("the consent screen reads badly (PGO PGO, or a part of one item as \"1 items\"):\n%s", txt)
	}
	left = dossier.CatMedication
	for _, c := range strings.Fields(ft.eval(`[...document.querySelectorAll("input[name=category]:checked")].map(i => i.value).join(" ")`)) {
		if dossier.Category(c) != left {
			selected = append(selected, dossier.Category(c))
		}
	}
	if len(selected) < 3 || ft.eval(`String(!!document.querySelector("#cat-medication:checked"))`) != "true" {
		t.Fatalf("consent screen offers %v (medication ticked?)", selected)
	}
	return selected, left
}

// denied: the patient said no; Zuid shows the calm message, stored nothing, and
// Noord recorded a refused grant.
func (d *flowDemo) denied(t *testing.T, ft *flowTab, id string) {
	t.Helper()
	if !strings.HasSuffix(ft.location(), "/ophalen/"+id) {
		t.Fatalf("after no: at %s", ft.location())
	}
	ft.check("zuid-5-said-no")
	want := web.T(web.Lang(ft.lang), "transfer.failed.calm_heading")
	if got := ft.eval(`document.querySelector(".notice h2") ? document.querySelector(".notice h2").textContent : ""`); got != want {
		t.Errorf("after no: heading %q, want the calm %q\n%s", got, want, ft.text())
	}
	if ft.eval(`String(document.querySelectorAll(".error-summary, [role=alert]").length)`) != "0" {
		t.Errorf("after no: an error summary or alert instead of a calm message")
	}
	zuid := d.db(t, "zuid")
	var docs int
	var corr string
	if err := zuid.QueryRow(context.Background(), `select (select count(*) from transfer_document where transfer_id = $1), correlation_id::text
		from transfer where id = $1`, id).Scan(&docs, &corr); err != nil {
		t.Fatal(err)
	}
	var refused int
	if err := d.db(t, "noord").QueryRow(context.Background(), `select count(*) from consent_grant where correlation_id = $1 and state = 'refused'`,
		corr).Scan(&refused); err != nil {
		t.Fatal(err)
	}
	if docs != 0 || refused != 1 {
		t.Errorf("after no: %d documents stored at Zuid, %d refused grants at Noord (want 0, 1)", docs, refused)
	}
}

// db connects to instance key's database for the checks.
func (d *flowDemo) db(t *testing.T, key string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), d.st.instance(key).Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// refusesOtherCertificates: the browser overlooks certificate errors only for the
// demo's own server keys; a server with another self-signed certificate is
// still refused.
func refusesOtherCertificates(t *testing.T, bctx context.Context) {
	t.Helper()
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("other")) }))
	defer other.Close()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(other.URL)); err == nil || !strings.Contains(err.Error(), "ERR_CERT") {
		t.Fatalf("chromium opened a server with a certificate outside the demo: %v", err)
	}
}
