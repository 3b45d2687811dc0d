package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// Requests without a verified client certificate can come from anyone who
// reaches the port, so their refusals are audited up to a quota shared by the
// token endpoint and the FHIR endpoint (over the real TLS listener): of five
// from one source with a quota of three, three are recorded, the third saying
// until when further ones are not, and all five are refused as before. A
// refusal of a peer with a verified certificate is recorded whatever the quota.
func TestUnauthenticatedRefusalsAuditedUpToQuota(t *testing.T) {
	q := &audit.Quota{Window: time.Hour, PerSource: 3, Total: 100}
	e := newConsentEnv(t, consentOpts{quota: q})
	e.s.MountFHIR(FHIRDeps{Access: realAccess{e.svc}, Exports: export.NewServing(export.ServingConfig{
		Store: exportdb.New(e.db, worker.NewRenderTask), Opener: e.sealer,
		Names: dossier.New(dossierdb.New(e.db), e.sealer), Source: "PGO Noord"}), Unauthenticated: q})
	refused := func(resp *http.Response) {
		t.Helper()
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without a certificate: %d, want 401", resp.Request.URL.Path, resp.StatusCode)
		}
	}
	for i := 0; i < 3; i++ {
		refused(e.postForm(t, "/oauth/token", tokenForm("some-code", "")))
	}
	refused(e.get(t, FHIRBasePath+"/metadata"))
	refused(e.postForm(t, "/oauth/token", tokenForm("some-code", "")))

	var token, fhir int
	var until string
	err := e.db.Pool.QueryRow(context.Background(), `select
		count(*) filter (where action = 'client_auth_failed'), count(*) filter (where action = 'fhir_refused'),
		coalesce(max(details->>'`+audit.DetailQuota+`'), '')
		from audit_log where reason = 'no_client_certificate'`).Scan(&token, &fhir, &until)
	if err != nil {
		t.Fatal(err)
	}
	if token != 3 || fhir != 0 || until == "" || q.Skipped() != 2 {
		t.Fatalf("recorded %d token and %d FHIR refusals, last saying %q, %d not recorded; want 3, 0, the window's end, 2",
			token, fhir, until, q.Skipped())
	}
	if end, err := time.Parse(time.RFC3339, until); err != nil || end.Before(time.Now()) {
		t.Fatalf("unrecorded_until %q: %v", until, err)
	}

	// a peer that authenticated is over no quota: its refusal is recorded
	before := len(e.auditRecords(t, audit.ActTokenRefused))
	resp := e.postForm(t, "/oauth/token", tokenForm("not-a-code", ""), e.cert)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(e.auditRecords(t, audit.ActTokenRefused)) != before+1 {
		t.Fatalf("authenticated refusal: %d, %d new token_refused records; want 400 and 1", resp.StatusCode,
			len(e.auditRecords(t, audit.ActTokenRefused))-before)
	}
}

// A peer whose certificate was verified and whose token was accepted is over no
// quota when the FHIR endpoint refuses it a document outside its grant (ASVS
// V16: access control failures): after a stranger without a certificate has
// used up its source's quota, six such refusals over the same source are six
// records, not none.
func TestFHIRGrantRefusalsOfAuthenticatedPeerHaveNoQuota(t *testing.T) {
	q := &audit.Quota{Window: time.Hour, PerSource: 3, Total: 100}
	e := newConsentEnv(t, consentOpts{quota: q})
	token := e.mountRealFHIR(t, q)
	_, job1 := token("state-quota-1")
	t2, _ := token("state-quota-2")
	for i := 0; i < 4; i++ { // the bucket of this source, used up without a certificate
		if resp := e.get(t, FHIRBasePath+"/metadata"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without a certificate: %d, want 401", resp.StatusCode)
		}
	}
	peer := e.client(e.cert)
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodGet, e.base+FHIRBasePath+"/Binary/"+job1, nil)
		req.Header.Set("Authorization", "Bearer "+t2)
		resp, err := peer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another grant's document: %d, want 403", resp.StatusCode)
		}
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log
		where action = 'fhir_refused' and reason = 'outside_grant' and object_id = $1`, job1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("%d fhir_refused/outside_grant records of 6 refusals of an authenticated peer; want 6", n)
	}
}
