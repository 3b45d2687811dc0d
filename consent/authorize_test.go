package consent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
)

// Anyone can send GET /oauth/authorize before logging in, as often as they
// like: its refusals are audited up to the quota of the peer routes' unauthenticated
// refusals, the last recorded one saying until when further ones are not, and
// each is refused as before. A logged-in patient's refusal is recorded whatever
// the quota.
func TestAnonymousAuthorizeRefusalsAuditedUpToQuota(t *testing.T) {
	q := &audit.Quota{Window: time.Hour, PerSource: 3, Total: 100}
	e := newBenchEnvWrap(t, nil, func(d *consent.Deps) { d.Unauthenticated = q })
	refuse := func(who consent.Caller) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?client_id=evil.example&redirect_uri=https://evil.example/cb", nil)
		if _, err := e.svc.Authorize(context.Background(), r, who); err == nil {
			t.Fatal("an unknown client's authorization request was accepted")
		}
	}
	records := func() (n int, until string) {
		t.Helper()
		if err := e.db.Pool.QueryRow(context.Background(), `select count(*), coalesce(max(details->>'`+audit.DetailQuota+`'), '')
			from audit_log where action = $1`, string(audit.ActAuthorizeRefused)).Scan(&n, &until); err != nil {
			t.Fatal(err)
		}
		return n, until
	}
	anonymous := consent.Caller{IP: "192.0.2.7"}
	for range 10 {
		refuse(anonymous)
	}
	if n, until := records(); n != 3 || until == "" || q.Skipped() != 7 {
		t.Fatalf("10 anonymous refusals wrote %d authorize_refused records (last saying %q), %d not recorded; want 3, the window's end, 7",
			n, until, q.Skipped())
	}
	patient := consent.Caller{AccountID: uuid.NewString(), IP: anonymous.IP}
	for range 2 {
		refuse(patient)
	}
	if n, _ := records(); n != 5 {
		t.Fatalf("a logged-in patient's refusals over the quota: %d records in all; want 5", n)
	}
}
