package transfer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// Every fault of the download ends the transfer in failed with its own reason,
// stores nothing, and says whether "Opnieuw proberen" can help.
func TestFetchFailures(t *testing.T) {
	cases := []struct {
		name   string
		faults transfertest.Faults
		tune   func(*transfer.Config)
		reason transfer.Reason
		retry  transfer.Retry
	}{
		{"wrong hash", transfertest.Faults{AnnounceHash: true, WrongHash: true}, nil, transfer.ReasonHashMismatch, transfer.RetryNone},
		{"wrong size", transfertest.Faults{AnnounceSize: true, SizeDelta: -1}, nil, transfer.ReasonTooLong, transfer.RetryNone},
		{"truncated body", transfertest.Faults{AnnounceSize: true, Truncate: true}, nil, transfer.ReasonTruncated, transfer.RetrySame},
		{"body larger than announced", transfertest.Faults{AnnounceSize: true, Extra: []byte("\n%%EOF\n")}, nil, transfer.ReasonTooLong, transfer.RetryNone},
		{"non-PDF body", transfertest.Faults{Body: []byte("<html>not a pdf</html>")}, nil, transfer.ReasonNotPDF, transfer.RetryNone},
		{"PDF header but no PDF", transfertest.Faults{Body: []byte("%PDF-1.7\nrubbish\n%%EOF\n")}, nil, transfer.ReasonNotPDF, transfer.RetryNone},
		{"wrong Content-Digest", transfertest.Faults{WrongDigest: true}, nil, transfer.ReasonDigestMismatch, transfer.RetryNone},
		{"wrong Content-Digest on a Binary", transfertest.Faults{Mode: "stu3", WrongDigest: true}, nil, transfer.ReasonDigestMismatch, transfer.RetryNone},
		{"over PGO_MAX_DOCUMENT_BYTES", transfertest.Faults{}, func(c *transfer.Config) { c.MaxDocumentBytes = 50_000 }, transfer.ReasonTooLarge, transfer.RetryNone},
		{"over the limit inside a Binary", transfertest.Faults{Mode: "stu3"}, func(c *transfer.Config) { c.MaxDocumentBytes = 50_000 }, transfer.ReasonTooLarge, transfer.RetryNone},
		{"endless 202", transfertest.Faults{Accepted: -1}, nil, transfer.ReasonRenderTimeout, transfer.RetrySame},
		{"token expired mid-download", transfertest.Faults{ExpireBinary: true}, nil, transfer.ReasonTokenExpired, transfer.RetryConsent},
		{"malformed Bundle", transfertest.Faults{BadBundle: true}, nil, transfer.ReasonBadBundle, transfer.RetryNone},
		{"connection breaks on every try", transfertest.Faults{BreakAt: 4096, BreakAlways: true}, nil, transfer.ReasonTruncated, transfer.RetrySame},
		{"source down", transfertest.Faults{Down: true}, nil, transfer.ReasonUnavailable, transfer.RetrySame},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true, c.tune)
			tr := e.consent(t)
			e.src.Set(c.faults)
			tr = e.fetch(t, tr.ID)
			if tr.Status != transfer.StatusFailed || tr.Failure != c.reason || tr.Retry != c.retry {
				t.Fatalf("got %s/%s retry %q (%s), want failed/%s retry %q", tr.Status, tr.Failure, tr.Retry, tr.FailureDetail, c.reason, c.retry)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored", n)
			}
			if tr.FailureDetail == "" {
				t.Error("no detail")
			}
			rows := e.audit(t, tr.ID)
			if last := rows[len(rows)-1]; last[0] != "transfer_failed" || last[2] != "failure" {
				t.Errorf("last audit row %v", last)
			}
		})
	}
}

// The callback's checks: each refusal fails the waiting transfer with its reason,
// and nothing is fetched.
func TestCallbackFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("access_denied", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Error: "access_denied", Iss: e.src.URL, HasIss: true})
		expectFailed(t, e, tr, err, transfer.ReasonAccessDenied)
	})
	t.Run("other OAuth error", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Error: "server_error", Iss: e.src.URL, HasIss: true})
		expectFailed(t, e, tr, err, transfer.ReasonAuthorization)
	})
	t.Run("iss mismatch", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		code := e.src.IssueCode(q.Get("code_challenge"))
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Code: code, Iss: "https://evil.localhost", HasIss: true})
		expectFailed(t, e, tr, err, transfer.ReasonIssuerMismatch)
	})
	t.Run("401 from the token endpoint", func(t *testing.T) {
		e := newEnv(t, true, nil)
		e.src.Set(transfertest.Faults{TokenStatus: 401})
		_, q := e.authorize(t)
		code := e.src.IssueCode(q.Get("code_challenge"))
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
		expectFailed(t, e, tr, err, transfer.ReasonTokenRefused)
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		code := e.src.IssueCode("some-other-challenge-of-enough-length-000000")
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
		expectFailed(t, e, tr, err, transfer.ReasonTokenRefused)
	})
	t.Run("iss missing though the source announces it", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		code := e.src.IssueCode(q.Get("code_challenge"))
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Code: code})
		expectFailed(t, e, tr, err, transfer.ReasonIssuerMismatch)
	})
	t.Run("state mismatch", func(t *testing.T) {
		e := newEnv(t, true, nil)
		_, q := e.authorize(t)
		code := e.src.IssueCode(q.Get("code_challenge"))
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: "forged-" + q.Get("state"), Code: code})
		expectFailed(t, e, tr, err, transfer.ReasonStateMismatch)
	})
	t.Run("state of another session", func(t *testing.T) {
		e := newEnv(t, true, nil)
		orig, q := e.authorize(t)
		other := e.actor
		other.SessionID = "another-browser"
		_, err := e.svc.HandleCallback(ctx, other, transfer.Callback{State: q.Get("state"), Code: e.src.IssueCode(q.Get("code_challenge"))})
		if !errors.Is(err, transfer.ErrUnknownState) {
			t.Fatalf("err %v, want ErrUnknownState", err)
		}
		if got := e.get(t, orig.ID); got.Status != transfer.StatusAuthorizing {
			t.Errorf("the other session's transfer moved to %s", got.Status)
		}
	})
	t.Run("source not on the Whitelist", func(t *testing.T) {
		e := newEnv(t, false, nil)
		tr, err := e.svc.Start(ctx, e.actor, "bron@medmij")
		expectFailed(t, e, tr, err, transfer.ReasonNotWhitelisted)
		if len(e.src.Seen()) != 0 {
			t.Errorf("the source was contacted %d times", len(e.src.Seen()))
		}
	})
}

func expectFailed(t *testing.T, e *env, tr transfer.Transfer, err error, reason transfer.Reason) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != transfer.StatusFailed || tr.Failure != reason {
		t.Fatalf("got %s/%s (%s), want failed/%s", tr.Status, tr.Failure, tr.FailureDetail, reason)
	}
	if tr.Retry != transfer.RetryFor(reason) {
		t.Errorf("retry %q, want %q", tr.Retry, transfer.RetryFor(reason))
	}
	for _, s := range e.src.Seen() {
		if s.Path != "/oauth/token" && s.Path != "/oauth/revoke" && s.Path != "/.well-known/oauth-authorization-server" {
			t.Errorf("fetched %s after a refused callback", s.Path)
		}
	}
	if sec, _ := e.store.Secrets(context.Background(), tr.ID); sec.TokenSealed != nil || sec.VerifierSealed != nil || sec.StateHash != nil {
		t.Error("a failed authorization kept a token, verifier or state")
	}
}
