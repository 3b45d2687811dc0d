package transfer_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// The MedMij portability example (its DocumentReference listed as is, its PDF
// served raw, as an STU3 Binary and as an R4 Binary) is fetched, verified against
// the announced size, SHA-1 and Content-Digest, stored sealed, and decrypts to
// exactly the source's bytes; the token is revoked; every request to the source
// carried the transfer's one correlation id and a fresh MedMij-Request-ID, and every
// audit row of the transfer carries that correlation id too.
func TestTransferMedMijExample(t *testing.T) {
	for _, mode := range []string{"raw", "stu3", "r4"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, true, nil)
			e.src.Set(transfertest.Faults{Mode: mode, AnnounceSize: true, AnnounceHash: true, Digest: true, Accepted: 2})
			tr := e.consent(t)
			if tr.Status != transfer.StatusAuthorized {
				t.Fatalf("after the callback: %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
			}
			tr = e.fetch(t, tr.ID)
			if tr.Status != transfer.StatusDone {
				t.Fatalf("status %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
			}
			if got := e.open(t, tr.ID); !bytes.Equal(got, e.pdf) {
				t.Fatalf("stored document differs from the source's (%d vs %d bytes)", len(got), len(e.pdf))
			}
			if tr.DocsDone != 1 || tr.DocsTotal != 1 || tr.BytesDone == 0 {
				t.Errorf("progress %d/%d, %d bytes", tr.DocsDone, tr.DocsTotal, tr.BytesDone)
			}
			if len(e.src.Revoked()) != 1 {
				t.Errorf("revoked %d tokens, want 1", len(e.src.Revoked()))
			}
			checkWire(t, e.src.Seen(), tr.CorrelationID)
			checkAudit(t, e.audit(t, tr.ID), tr.CorrelationID)
		})
	}
}

// checkWire: one correlation id on every request, a MedMij-Request-ID of its own
// per request, the search exactly status=current, Prefer: respond-async on reads.
func checkWire(t *testing.T, seen []transfertest.Seen, corr string) {
	t.Helper()
	ids := map[string]bool{}
	for _, s := range seen {
		if s.CorrelationID != corr {
			t.Errorf("%s %s: X-Correlation-ID %q, want %q", s.Method, s.Path, s.CorrelationID, corr)
		}
		if s.RequestID == "" || ids[s.RequestID] {
			t.Errorf("%s %s: MedMij-Request-ID %q missing or reused", s.Method, s.Path, s.RequestID)
		}
		ids[s.RequestID] = true
		if s.ClientCertCN != "doel.localhost" {
			t.Errorf("%s %s: client certificate %q", s.Method, s.Path, s.ClientCertCN)
		}
		if strings.Contains(s.Path, "/Binary/") && s.Prefer != "respond-async" {
			t.Errorf("Binary read without Prefer: respond-async")
		}
	}
	q, ok := transfertest.Query(seen, "/51/fhir/DocumentReference")
	if !ok {
		t.Fatal("no DocumentReference search")
	}
	if len(q) != 1 || q.Get("status") != "current" {
		t.Errorf("search query %v, want exactly status=current (never patient/subject)", q)
	}
}

// checkAudit: the whole state machine is on record under the correlation id.
func checkAudit(t *testing.T, rows [][4]string, corr string) {
	t.Helper()
	var steps []string
	for _, r := range rows {
		steps = append(steps, r[1])
		if r[3] != corr {
			t.Errorf("audit %s/%s: correlation id %q, want %q", r[0], r[1], r[3], corr)
		}
	}
	want := "created authorizing authorized listing downloading verifying stored done"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("audited steps %q, want %q", got, want)
	}
}

// The authorization request names everything MedMij and the contract ask for.
func TestAuthorizationRequest(t *testing.T) {
	e := newEnv(t, true, nil)
	tr, q := e.authorize(t)
	want := url.Values{
		"client_id": {"doel.localhost"}, "redirect_uri": {"https://doel.localhost:8443/oauth/callback"},
		"scope": {"bron~51"}, "response_type": {"code"}, "code_challenge_method": {"S256"},
		"X-Correlation-ID": {tr.CorrelationID},
	}
	for k, v := range want {
		if q.Get(k) != v[0] {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v[0])
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("code_challenge")) != 43 || q.Get("MedMij-Request-ID") == "" {
		t.Errorf("state %q, code_challenge %q, MedMij-Request-ID %q", q.Get("state"), q.Get("code_challenge"), q.Get("MedMij-Request-ID"))
	}
	// Asking again (the patient came back) replaces state and verifier.
	raw, err := e.svc.AuthorizeURL(context.Background(), e.actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	if u.Query().Get("state") == q.Get("state") || u.Query().Get("code_challenge") == q.Get("code_challenge") {
		t.Error("a new authorization request reused the state or the PKCE verifier")
	}
}
