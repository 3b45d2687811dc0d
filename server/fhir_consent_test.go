package server

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// realAccess is cmd/pgo's adapter of the authorization server's token check.
type realAccess struct{ c *consent.Service }

func (r realAccess) CheckAccess(ctx context.Context, bearer, thumbprint string) (FHIRAccess, error) {
	a, err := r.c.CheckAccess(ctx, bearer, thumbprint)
	return FHIRAccess(a), err
}

// The FHIR endpoint with the real authorization server behind it (issues 10
// and 11): tokens from the real token endpoint over mutual TLS open the
// DocumentReference search; no token, a token shown with another client
// certificate, another grant's document, a revoked token, a token after the
// patient withdrew, and an expired token are each refused with the right status,
// WWW-Authenticate and an OperationOutcome, and each is exactly one audit
// record with its precise reason (the authorization server's access_refused for
// a token it refuses, the endpoint's fhir_refused for what it refuses itself).
func TestFHIRWithRealTokens(t *testing.T) {
	e := newConsentEnv(t, consentOpts{})
	token := e.mountRealFHIR(t, nil)
	get := func(path, tok string, c *http.Client) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.base+FHIRBasePath+path, nil)
		req.Header.Set("Accept", "application/fhir+json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, sb.String()
	}
	peer := e.client(e.cert)
	other := e.client(e.ca.pair(t, zuid, x509.ExtKeyUsageClientAuth)) // same name, another key
	t1, job1 := token("state-fhir-1")
	t2, _ := token("state-fhir-2")
	search := "/DocumentReference?status=current"
	if resp, body := get(search, t1, peer); resp.StatusCode != 200 || !strings.Contains(body, job1) {
		t.Fatalf("valid token: %d %.300s", resp.StatusCode, body)
	}
	// Each refusal is on the audit log exactly once, with its precise reason.
	var mark int64
	since := func() { mark = auditMark(t, e.db) }
	audited := func(name string, action audit.Action, reason string) {
		t.Helper()
		if got, want := auditAfter(t, e.db, mark), string(action)+"/"+reason; len(got) != 1 || got[0] != want {
			t.Errorf("%s: audit records %q, want exactly [%s]", name, got, want)
		}
	}
	refused := func(name string, resp *http.Response, body string, status int, invalidToken bool) {
		t.Helper()
		wa := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != status || !strings.Contains(body, `"resourceType":"OperationOutcome"`) ||
			(status == 401 && !strings.HasPrefix(wa, "Bearer")) || (invalidToken && !strings.Contains(wa, `error="invalid_token"`)) {
			t.Errorf("%s: %d, WWW-Authenticate %q, %.200s", name, resp.StatusCode, wa, body)
		}
	}
	since()
	resp, body := get(search, "", peer)
	refused("no token", resp, body, 401, false)
	audited("no token", audit.ActFHIRRefused, "no_token")
	since()
	resp, body = get(search, t1+"x", peer)
	refused("tampered token", resp, body, 401, true)
	audited("tampered token", audit.ActAccessRefused, "bad_signature")
	since()
	resp, body = get(search, "not-a-token", peer)
	refused("not a token", resp, body, 401, true)
	audited("not a token", audit.ActAccessRefused, "malformed")
	since()
	resp, body = get(search, t1, other)
	refused("another client certificate", resp, body, 401, true)
	audited("another client certificate", audit.ActAccessRefused, "certificate_mismatch")
	since()
	resp, body = get("/Binary/"+job1, t2, peer)
	refused("another grant's document", resp, body, 403, false)
	audited("another grant's document", audit.ActFHIRRefused, "outside_grant")
	// RFC 7009: the target revokes token 1; the patient withdraws grant 2.
	if r := e.postForm(t, "/oauth/revoke", url.Values{"token": {t1}, "client_id": {zuid}}, e.cert); r.StatusCode != 200 {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	since()
	resp, body = get(search, t1, peer)
	refused("revoked token", resp, body, 401, true)
	audited("revoked token", audit.ActAccessRefused, "revoked")
	grants, _ := e.svc.Grants(context.Background(), e.patient)
	for _, g := range grants {
		if g.State == consent.StateActive {
			if err := e.svc.Withdraw(context.Background(), g.ID, consent.Caller{AccountID: e.patient, IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	since()
	resp, body = get(search, t2, peer)
	refused("after withdrawal", resp, body, 401, true)
	audited("after withdrawal", audit.ActAccessRefused, "revoked")
	t3, _ := token("state-fhir-3")
	e.clock.add(15*time.Minute + time.Second)
	since()
	resp, body = get(search, t3, peer)
	refused("expired token", resp, body, 401, true)
	audited("expired token", audit.ActAccessRefused, "expired")
}

// auditMark is the newest audit record's seq, for auditAfter.
func auditMark(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var mark int64
	if err := db.Pool.QueryRow(context.Background(), `select coalesce(max(seq), 0) from audit_log`).Scan(&mark); err != nil {
		t.Fatal(err)
	}
	return mark
}

// auditAfter lists the audit records after mark as action/reason, with
// " without source IP" added where the record has none.
func auditAfter(t *testing.T, db *store.DB, mark int64) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `select action || '/' || reason ||
		case when source_ip = '' then ' without source IP' else '' end
		from audit_log where seq > $1 order by seq`, mark)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// mountRealFHIR mounts the FHIR endpoint on e with the real access check and
// export serving (and q bounding unauthenticated refusals' records), and returns
// a function that makes an access token through the consent flow (state) and
// gives it with its export job.
func (e *consentEnv) mountRealFHIR(t *testing.T, q *audit.Quota) func(state string) (token, job string) {
	e.s.MountFHIR(FHIRDeps{Access: realAccess{e.svc}, Exports: export.NewServing(export.ServingConfig{
		Store: exportdb.New(e.db, worker.NewRenderTask), Opener: e.sealer,
		Names: dossier.New(dossierdb.New(e.db), e.sealer), Source: "PGO Noord"}), Unauthenticated: q})
	b := e.browser()
	return func(state string) (string, string) {
		t.Helper()
		k, err := e.exchange(t, e.codeFor(t, b, state, ""), "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.svc.CheckAccess(context.Background(), k.AccessToken, thumbprint(e.cert))
		if err != nil {
			t.Fatal(err)
		}
		return k.AccessToken, a.ExportJobID
	}
}
