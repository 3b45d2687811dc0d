package server

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/web"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// TestAbuse is the abuse suite of the browser and peer surfaces (issue 17), in
// one place so that an auditor can read the list of attacks and see each one
// refused. One instance plays both roles, as `pgo serve` does: the source
// (login, consent, token endpoint, FHIR; the real HTTPS listener with mutual TLS
// from a test CA) and the target (transfer pages, received documents), on a real
// PostgreSQL schema. Every subtest performs the attack, asserts the exact
// refusal and that nothing changed, and where it proves the check is what
// refuses, the same request done right succeeds.
//
// The subtests live in abuse_browser_test.go (TOTP, sessions),
// abuse_forms_test.go (CSRF, framing, roles), abuse_redirect_test.go (open
// redirects) and abuse_peer_test.go (codes, PKCE, tokens, documents).
func TestAbuse(t *testing.T) {
	e := newAbuseEnv(t)
	for _, a := range []struct {
		name string
		run  func(*testing.T, *abuseEnv)
	}{
		{"totp-replay", abuseTOTPReplay},
		{"totp-replay-concurrent", abuseTOTPReplayConcurrent},
		{"session-fixation", abuseSessionFixation},
		{"logout-invalidates-server-side", abuseLogout},
		{"csrf", abuseCSRF},
		{"clickjacking", abuseClickjacking},
		{"open-redirect-login-next", abuseLoginNext},
		{"open-redirect-oidc-return-cookie", abuseOIDCNextCookie},
		{"open-redirect-authorize-redirect-uri", abuseRedirectURI},
		{"open-redirect-decide-redirect-uri", abuseDecideRedirectURI},
		{"roles", abuseRoles},
		{"code-replay", abuseCodeReplay},
		{"code-replay-concurrent", abuseCodeReplayConcurrent},
		{"pkce-downgrade", abusePKCEDowngrade},
		{"authorize-response-mode-or-type-tampering", abuseResponseTampering},
		{"token-redirect-uri-variant", abuseTokenRedirectURI},
		{"token-of-another-client", abuseTokenOtherClient},
		{"token-with-another-certificate", abuseTokenOtherCert},
		{"fhir-another-patients-documents", abuseFHIROtherPatient},
		{"target-another-patients-documents", abuseTargetOtherPatient},
		{"target-callback-of-another-session", abuseTargetCallback},
		{"source-another-patients-grant", abuseWithdrawOtherPatient},
	} {
		t.Run(a.name, func(t *testing.T) { a.run(t, e) })
	}
}

// abuseEnv is the source env (consentEnv, with FHIR and "Mijn dossier"
// mounted) plus the target's transfer pages on the same server.
type abuseEnv struct {
	*consentEnv
	tgt *transferEnv
	// second patient on the source, with the same dossier as anouk.
	bart     string
	bartSeed []byte
}

func newAbuseEnv(t *testing.T) *abuseEnv {
	t.Helper()
	c := newConsentEnv(t, consentOpts{realTime: true})
	dos := dossier.New(dossierdb.New(c.db), c.sealer)
	c.s.MountFHIR(FHIRDeps{Access: realAccess{c.svc}, Exports: export.NewServing(export.ServingConfig{
		Store: exportdb.New(c.db, worker.NewRenderTask), Opener: c.sealer, Names: dos, Source: "PGO Noord"})})
	c.s.MountDossier(DossierDeps{Accounts: c.accountEnv.svc, Dossier: dos})
	e := &abuseEnv{consentEnv: c, tgt: attachTransfer(t, c.accountEnv)}
	e.bart, e.bartSeed = c.createUser(t, "bart", account.RolePatient)
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dos.Import(context.Background(), e.bart, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// loggedIn is a new browser with name logged in (a new user of role when name
// is not yet known).
func (e *abuseEnv) loggedIn(t *testing.T, name string, role account.Role) *browser {
	t.Helper()
	seed, ok := e.seeds[name]
	if !ok {
		_, seed = e.createUser(t, name, role)
	}
	b := e.browser()
	b.login(t, name, seed)
	return b
}

// dbState is a digest per table of the test's schema, for "nothing changed"
// assertions. Sessions are compared by id, account, stage and role: reading a
// session refreshes its idle timer, which is not a change an attacker makes.
func dbState(t *testing.T, e *accountEnv) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := e.db.Pool.Query(ctx, `select table_name from information_schema.tables
		where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		row := "t::text"
		if n == "sessions" {
			row = "(t.id_hash, t.account_id, t.stage, t.role)::text"
		}
		q := fmt.Sprintf(`select count(*)::text || ':' || coalesce(md5(string_agg(x, '|' order by x)), '')
			from (select %s as x from %s t) s`, row, pgx.Identifier{n}.Sanitize())
		var d string
		if err := e.db.Pool.QueryRow(ctx, q).Scan(&d); err != nil {
			t.Fatal(err)
		}
		out[n] = d
	}
	return out
}

// unchanged fails when a table differs from before.
func unchanged(t *testing.T, e *accountEnv, before map[string]string, what string) {
	t.Helper()
	for n, d := range dbState(t, e) {
		if before[n] != d {
			t.Errorf("%s changed table %s", what, n)
		}
	}
}

// refusedPage checks an HTML refusal: the status, the reason's Dutch text on the
// page, and no redirect.
func refusedPage(t *testing.T, what string, code int, loc, body string, status int, reasonKey string) {
	t.Helper()
	if code != status || loc != "" || !strings.Contains(body, htmlText(web.T(web.NL, reasonKey))) {
		t.Errorf("%s: %d Location %q, want %d with %q", what, code, loc, status, web.T(web.NL, reasonKey))
	}
}

// htmlText is s as html/template writes it in text.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "\"", "&#34;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// form is url.Values from pairs.
func form(kv ...string) url.Values { return url.Values(formOf(kv...)) }
