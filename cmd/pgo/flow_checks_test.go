package main

// What TestFlowBrowser checks behind the pages, in both instances' databases,
// keysets, audit logs and process logs.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// verify checks what happened behind the pages for transfer id.
func (d *flowDemo) verify(t *testing.T, id, pdfFile string, selected []dossier.Category, left dossier.Category) {
	t.Helper()
	ctx := context.Background()
	got, err := os.ReadFile(pdfFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", pdfFile, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := string(out)
	for _, c := range dossier.Categories {
		section := c.LabelNL + " (" // a section heading: "Problemen (5 items)"
		switch {
		case c.Key == left && strings.Contains(text, section):
			t.Errorf("the PDF holds the category the patient left out: %s", c.LabelNL)
		case containsCat(selected, c.Key) && !strings.Contains(text, section):
			t.Errorf("the PDF lacks the chosen category %s", c.LabelNL)
		}
	}

	// The document Zuid stored decrypts to exactly the bytes Noord rendered.
	zuid, noord := d.db(t, "zuid"), d.db(t, "noord")
	var docID, owner, binding, corr string
	var sealed []byte
	if err := zuid.QueryRow(ctx, `select d.id::text, d.user_id::text, d.sealed_binding, d.sealed, t.correlation_id::text
		from transfer t join transfer_document d on d.transfer_id = t.id
		where t.id = $1 and t.status = 'done'`, id).Scan(&docID, &owner, &binding, &sealed, &corr); err != nil {
		t.Fatalf("Zuid's stored document of transfer %s: %v", id, err)
	}
	if binding != string(transfer.BindingAccount) {
		t.Errorf("Zuid stored the document with binding %q, want %q", binding, transfer.BindingAccount)
	}
	stored := d.open(t, "zuid", transfer.DocumentObjectID(owner, id, docID), sealed)
	var jobID, grantState string
	var ended, revoked bool
	if err := noord.QueryRow(ctx, `select g.export_job_id::text, g.state, g.ended_at is not null,
		coalesce(bool_and(k.revoked_at is not null), false) from consent_grant g left join oauth_token k on k.grant_id = g.id
		where g.correlation_id = $1 and g.state <> 'refused' group by g.id`, corr).Scan(&jobID, &grantState, &ended, &revoked); err != nil {
		t.Fatalf("Noord's grant of correlation id %s: %v", corr, err)
	}
	if err := noord.QueryRow(ctx, `select sealed from export_document where job_id = $1`, jobID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	rendered := d.open(t, "noord", jobID, sealed)
	if string(stored) != string(rendered) || string(got) != string(rendered) || !strings.HasPrefix(string(got), "%PDF-") {
		t.Errorf("bytes differ: rendered at Noord %d, stored at Zuid %d, opened in the browser %d", len(rendered), len(stored), len(got))
	}
	if grantState == "active" || !ended || !revoked {
		t.Errorf("Noord's grant is %s (ended %v), its token revoked %v: want ended and revoked", grantState, ended, revoked)
	}
	d.token(t, corr)
	d.audits(t, corr)
}

// token checks what Noord recorded of the access token it issued for the
// transfer against the transfer contract: sub is the patient's account id at
// Noord (never a BSN), client_id Zuid's host, scope "noord~51", audience Noord's
// FHIR base from the ZAL, cnf bound to Zuid's client certificate (RFC 8705), a
// life of at most 15 minutes.
func (d *flowDemo) token(t *testing.T, corr string) {
	t.Helper()
	var sub, x5t, clientID, scope, aud, account string
	var life float64
	err := d.db(t, "noord").QueryRow(context.Background(), `select k.request->'session'->>'sub', k.request->'session'->>'x5t',
		k.request->'session'->>'client_id', k.request->'session'->>'scope', k.request->'granted_audience'->>0,
		extract(epoch from k.expires_at - k.created_at)::float8, g.account_id::text
		from oauth_token k join consent_grant g on g.id = k.grant_id where g.correlation_id = $1`, corr).
		Scan(&sub, &x5t, &clientID, &scope, &aud, &life, &account)
	if err != nil {
		t.Fatalf("Noord's token of correlation id %s: %v", corr, err)
	}
	der := readCert(t, filepath.Join(d.dir, "certs", "zuid.localhost-client.pem")).Raw
	sum := sha256.Sum256(der)
	want := [][2]string{{sub, account}, {x5t, base64.RawURLEncoding.EncodeToString(sum[:])}, {clientID, "zuid.localhost"},
		{scope, "noord~51"}, {aud, d.noord + "/51/fhir"}}
	for i, w := range want {
		if w[0] != w[1] {
			t.Errorf("token claim %d: %q, want %q", i, w[0], w[1])
		}
	}
	if life <= 0 || life > 15*60 {
		t.Errorf("token lives %.0f s, want at most 15 minutes", life)
	}
}

// noSecretsInLogs: the four processes' logs hold no password, login code
// secret, access token (a JWT starts "eyJ") or authorization code parameter.
func (d *flowDemo) noSecretsInLogs(t *testing.T) {
	t.Helper()
	for _, key := range []string{"noord", "zuid"} {
		for _, f := range []string{"serve.log", "worker.log"} {
			b, err := os.ReadFile(filepath.Join(d.dir, key, f))
			if err != nil {
				t.Fatal(err)
			}
			log := string(b)
			for user, pw := range d.pass {
				if strings.Contains(log, pw) {
					t.Errorf("%s/%s holds the password of %s", key, f, user)
				}
			}
			for _, bad := range []string{"eyJ", "code=", "access_token"} {
				if strings.Contains(log, bad) {
					t.Errorf("%s/%s holds %q", key, f, bad)
				}
			}
		}
	}
}

func containsCat(cs []dossier.Category, c dossier.Category) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// open decrypts a stored object with instance key's keyset.
func (d *flowDemo) open(t *testing.T, key, objectID string, sealed []byte) []byte {
	t.Helper()
	v, err := vault.Open(filepath.Join(d.dir, key, "keyset.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := export.StreamSeal{V: v}.Open(objectID, sealed)
	if err != nil {
		t.Fatalf("%s: decrypting %s: %v", key, objectID, err)
	}
	return b
}

// audits: `pgo audit export --correlation-id` at each instance returns the
// transfer's records, all under that one id, with each side's key steps.
func (d *flowDemo) audits(t *testing.T, corr string) {
	t.Helper()
	want := map[string][]string{
		"noord": {"consent_granted", "token_issued", "document_listed", "document_fetched", "token_revoked"},
		"zuid":  {"transfer_started", "code_redeemed", "document_fetched", "transfer_completed"},
	}
	for _, key := range []string{"noord", "zuid"} {
		code, out, errOut := runPGO(t, d.st.instanceVars(d.dir, d.st.instance(key)), "audit", "export", "--format", "ndjson", "--correlation-id", corr)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) < len(want[key]) {
			t.Fatalf("%s: pgo audit export --correlation-id: exit %d, %d records\n%s", key, code, len(lines), errOut)
		}
		for _, l := range lines {
			if !strings.Contains(l, corr) {
				t.Errorf("%s: a record without the correlation id: %.300s", key, l)
			}
		}
		rows, err := d.db(t, key).Query(context.Background(), `select action from audit_log where correlation_id = $1`, corr)
		if err != nil {
			t.Fatal(err)
		}
		actions, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != len(lines) {
			t.Errorf("%s: %d records exported, %d in the log", key, len(lines), len(actions))
		}
		for _, a := range want[key] {
			if !strings.Contains(" "+strings.Join(actions, " ")+" ", " "+a+" ") {
				t.Errorf("%s: no %s under correlation id %s (have %v)", key, a, corr, actions)
			}
		}
	}
}
