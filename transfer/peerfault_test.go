package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// peerCase is one way a source PGO misbehaves towards the real transfer code.
type peerCase struct {
	name   string
	faults transfertest.Faults
	tune   func(*transfer.Config)
	// done: the transfer must still complete (the fault is one a retry within
	// the attempt overcomes); otherwise it fails with reason and detail.
	done   bool
	reason transfer.Reason
	detail string // a part of FailureDetail that names what went wrong
	// requeue: the first attempt leaves the transfer for the task's next attempt
	// (the fault may pass); false: it fails at once, no attempt could help.
	requeue bool
	// gets bounds the Binary reads of the first attempt (retries inside it).
	minGets, maxGets int
}

// The misbehaving peer (issue 17): a hostile source served over real TLS with
// mutual TLS, the real transfer code as its client against a real PostgreSQL
// schema. Each case asserts the final state, the reason key and its detail, the
// audit record, whether the task retries (only where that can help) and the
// Binary reads inside the attempt, and that nothing partial is stored.
// Further faults (wrong Content-Digest, token expiry, source down, ...) are
// in TestFetchFailures and TestRetryAfterPassingFailures.
func TestMisbehavingPeer(t *testing.T) {
	fast := func(c *transfer.Config) { c.RequestTimeout = 400 * time.Millisecond }
	shared := newEnv(t, true, nil) // one schema and source; every case is its own transfer
	for _, c := range []peerCase{
		{name: "truncated body (complete response, half the bytes)", faults: transfertest.Faults{AnnounceSize: true, Truncate: true},
			reason: transfer.ReasonTruncated, detail: "attachment.size announced", minGets: 1, maxGets: 1},
		{name: "wrong hash", faults: transfertest.Faults{AnnounceHash: true, WrongHash: true},
			reason: transfer.ReasonHashMismatch, detail: "differs from attachment.hash", minGets: 1, maxGets: 1},
		{name: "Content-Length larger than the body", faults: transfertest.Faults{LengthDelta: 1000},
			reason: transfer.ReasonTruncated, detail: "connection broke after 105673 bytes", requeue: true, minGets: 1, maxGets: 1},
		{name: "Content-Length smaller than the body", faults: transfertest.Faults{AnnounceSize: true, LengthDelta: -1000},
			reason: transfer.ReasonTruncated, detail: "has 104673 bytes, attachment.size announced 105673", minGets: 1, maxGets: 1},
		{name: "body larger than announced", faults: transfertest.Faults{AnnounceSize: true, Extra: []byte("\n%%EOF\n")},
			reason: transfer.ReasonTooLong, detail: "has 105680 bytes, attachment.size announced 105673", minGets: 1, maxGets: 1},
		{name: "non-PDF body", faults: transfertest.Faults{Body: []byte("<html><body>Storing</body></html>")},
			reason: transfer.ReasonNotPDF, detail: "does not start with %PDF-", minGets: 1, maxGets: 1},
		{name: "slow drip ends at the request timeout", faults: transfertest.Faults{Trickle: 150 * time.Millisecond}, tune: fast,
			reason: transfer.ReasonTooSlow, detail: "within 400ms", requeue: true, minGets: 1, maxGets: 1},
		{name: "endless 202", faults: transfertest.Faults{Accepted: -1},
			reason: transfer.ReasonRenderTimeout, detail: "still not ready after 200ms", requeue: true, minGets: 3, maxGets: 1000},
		{name: "5xx then success", faults: transfertest.Faults{Fail5xx: 2, AnnounceSize: true, AnnounceHash: true},
			done: true, minGets: 3, maxGets: 3},
		{name: "5xx on every try", faults: transfertest.Faults{Fail5xx: 1000},
			reason: transfer.ReasonUnavailable, detail: "answered 503", requeue: true, minGets: 3, maxGets: 3},
		{name: "TLS certificate of another host", faults: transfertest.Faults{WrongHostCert: true},
			reason: transfer.ReasonCertificate, detail: "not valid for bron.localhost", minGets: 0, maxGets: 0},
		{name: "redirect to a host not on the Whitelist", faults: transfertest.Faults{RedirectTo: "https://kwaad.localhost/fhir/Binary/1"},
			reason: transfer.ReasonHTTP, detail: "the peer answered 302, a redirect to https://kwaad.localhost, which was not followed", minGets: 1, maxGets: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.tune != nil {
				runPeerCase(t, newEnv(t, true, c.tune), c)
				return
			}
			runPeerCase(t, shared, c)
		})
	}
}

// A source whose TLS certificate names another host is refused already at the
// token endpoint: the callback fails with peer_certificate and its detail, the
// code is never sent, nothing is kept.
func TestMisbehavingPeerAtTokenEndpoint(t *testing.T) {
	e := newEnv(t, true, nil)
	_, q := e.authorize(t)
	code := e.src.IssueCode(q.Get("code_challenge"))
	e.src.Set(transfertest.Faults{WrongHostCert: true})
	e.src.Server.CloseClientConnections()
	tr, err := e.svc.HandleCallback(context.Background(), e.actor, transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
	expectFailed(t, e, tr, err, transfer.ReasonCertificate)
	if !strings.Contains(tr.FailureDetail, "not valid for bron.localhost (it names andere.localhost)") {
		t.Errorf("detail %q", tr.FailureDetail)
	}
	if len(e.src.Seen()) != 0 {
		t.Errorf("the source received %d requests", len(e.src.Seen()))
	}
	checkFailedAudit(t, e, tr.ID, transfer.ReasonCertificate)
}

func runPeerCase(t *testing.T, e *env, c peerCase) {
	ctx := context.Background()
	e.src.Set(transfertest.Faults{})
	tr := e.consent(t)
	e.src.Set(c.faults)
	e.src.Server.CloseClientConnections() // new connections: new TLS handshakes
	before := len(e.src.Seen())
	err := e.svc.Fetch(ctx, tr.ID, false)
	if gets := binaryGets(e.src.Seen()[before:]); gets < c.minGets || gets > c.maxGets {
		t.Errorf("%d Binary reads in the attempt, want %d..%d", gets, c.minGets, c.maxGets)
	}
	if c.done {
		got := e.get(t, tr.ID)
		if err != nil || got.Status != transfer.StatusDone || !bytes.Equal(e.open(t, tr.ID), e.pdf) {
			t.Fatalf("err %v, %s (%s), want done with the source's bytes", err, got.Status, got.FailureDetail)
		}
		if n := countAudit(t, e, tr.ID, "transfer_completed"); n != 1 {
			t.Errorf("%d transfer_completed records", n)
		}
		return
	}
	if c.requeue {
		if err == nil || !transfer.IsTransient(err) || errors.Is(err, transfer.ErrPermanent) {
			t.Fatalf("first attempt: %v, want a passing failure the task retries", err)
		}
		if got := e.get(t, tr.ID); got.Status.Final() || e.documents(t, tr.ID) != 0 {
			t.Fatalf("between attempts: %s with %d documents", got.Status, e.documents(t, tr.ID))
		}
		e.src.Set(c.faults)
		err = e.svc.Fetch(ctx, tr.ID, true) // the task's last attempt
	}
	if !errors.Is(err, transfer.ErrPermanent) {
		t.Fatalf("err %v, want the transfer failed for good (no further task retry)", err)
	}
	got := e.get(t, tr.ID)
	if got.Status != transfer.StatusFailed || got.Failure != c.reason || got.Retry != transfer.RetryFor(c.reason) {
		t.Fatalf("got %s/%s retry %q, want failed/%s retry %q", got.Status, got.Failure, got.Retry, c.reason, transfer.RetryFor(c.reason))
	}
	if !strings.Contains(got.FailureDetail, c.detail) {
		t.Errorf("detail %q, want it to say %q", got.FailureDetail, c.detail)
	}
	if got.DocsDone != 0 {
		t.Errorf("failed with %d of %d documents done", got.DocsDone, got.DocsTotal)
	}
	checkNothingStored(t, e, tr.ID)
	checkFailedAudit(t, e, tr.ID, c.reason)
}

// binaryGets counts the Binary reads the source saw.
func binaryGets(seen []transfertest.Seen) int {
	n := 0
	for _, s := range seen {
		if strings.Contains(s.Path, "/Binary/") {
			n++
		}
	}
	return n
}

// checkNothingStored wants no document row of the transfer (the sealed bytes
// live in it), and no sealed token left unless "Opnieuw proberen" reuses it.
func checkNothingStored(t *testing.T, e *env, id string) {
	t.Helper()
	if docs := e.documents(t, id); docs != 0 {
		t.Errorf("%d document rows after a failure", docs)
	}
	tr := e.get(t, id)
	if sec, _ := e.store.Secrets(context.Background(), id); (sec.TokenSealed != nil) != (tr.Retry == transfer.RetrySame) {
		t.Errorf("retry %q with a sealed token kept: %v", tr.Retry, sec.TokenSealed != nil)
	}
}

// checkFailedAudit wants exactly one transfer_failed record, the last of the
// transfer, with outcome failure and the reason key; and no transfer_completed.
func checkFailedAudit(t *testing.T, e *env, id string, reason transfer.Reason) {
	t.Helper()
	var action, outcome, got string
	err := e.db.Pool.QueryRow(context.Background(), `select action, outcome, reason from audit_log
		where object_id = $1 order by seq desc limit 1`, id).Scan(&action, &outcome, &got)
	if err != nil {
		t.Fatal(err)
	}
	if action != "transfer_failed" || outcome != "failure" || got != string(reason) {
		t.Errorf("last audit record %s/%s/%s, want transfer_failed/failure/%s", action, outcome, got, reason)
	}
	if n := countAudit(t, e, id, "transfer_failed"); n != 1 {
		t.Errorf("%d transfer_failed records", n)
	}
	if n := countAudit(t, e, id, "transfer_completed"); n != 0 {
		t.Errorf("%d transfer_completed records", n)
	}
}

func countAudit(t *testing.T, e *env, id, action string) int {
	t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where object_id = $1 and action = $2`,
		id, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
