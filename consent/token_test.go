package consent_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// withdrawFirst is the real store, except that the consent is withdrawn just
// before the code is redeemed: after Token has found the grant live, as a
// patient's withdrawal racing the token request would.
type withdrawFirst struct{ *consentdb.Store }

func (w withdrawFirst) RedeemCode(ctx context.Context, sig []byte, t time.Time, tok consent.Token, evs ...audit.Event) (consent.RedeemOutcome, error) {
	// Its own transaction, committed before the redemption's statement runs.
	if _, err := w.Store.EndGrant(context.Background(), tok.GrantID, consent.StateWithdrawn, t); err != nil {
		return 0, err
	}
	return w.Store.RedeemCode(ctx, sig, t, tok, evs...)
}

// A grant that ends between the token request's grant check and the redemption
// gets no token: invalid_grant, nothing stored, and the code is not used (the
// transaction rolled back).
func TestTokenRefusedWhenGrantEndsDuringRedemption(t *testing.T) {
	var st *consentdb.Store
	e := newBenchEnvWrap(t, func(s *consentdb.Store) consent.Store { st = s; return withdrawFirst{s} })
	is := e.issue(t)
	_, err := e.token(is)
	var oe *consent.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !oe.JSON {
		t.Fatalf("token for a grant withdrawn during the request: %v; want invalid_grant", err)
	}
	sum := sha256.Sum256([]byte(is.code))
	r, err := st.Redemption(context.Background(), sum[:])
	if err != nil || !r.Code.Used.IsZero() || r.Grant.State != consent.StateWithdrawn {
		t.Fatalf("after the refusal: code used %v, grant %s, %v", r.Code.Used, r.Grant.State, err)
	}
}

// A token request costs two database round trips (issue 16): the code with its
// challenge and grant; then begin, the redemption with the token row, both audit
// records and commit in one batch (a refusal aborts it on the server). It was
// six: begin, the statement, each audit record and commit were one each.
// The consent decision writes the grant, the code, the PKCE challenge, the
// export job with its render task's outbox row, the serve_until of the job and
// three audit records in one transaction of seven round trips (issue 16: it was
// eleven; the export's statements and the serve_until, and the grant's two
// records, each travel in one batch now).
func TestCodeIssueRoundTrips(t *testing.T) {
	e := newBenchEnv(t)
	e.issue(t) // prepares the statements on a connection
	start := e.db.RoundTrips()
	e.issue(t)
	if n := e.db.RoundTrips() - start; n != 7 {
		t.Fatalf("a consent decision took %d round trips; want 7", n)
	}
}

func TestTokenRoundTrips(t *testing.T) {
	e := newBenchEnv(t)
	e.redeem(t, e.issue(t)) // prepares the statements on a connection
	is := e.issue(t)
	start := e.db.RoundTrips()
	e.redeem(t, is)
	if n := e.db.RoundTrips() - start; n != 2 {
		t.Fatalf("a token request took %d round trips; want 2", n)
	}
}

// revoke is one revocation request (RFC 7009) over "mutual TLS" for token.
func (e *benchEnv) revoke(t testing.TB, token string) {
	t.Helper()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}, "client_id": {fuzzClient}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/revoke", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ctx := consent.WithIP(reqctx.WithPeer(context.Background(), e.peer), "192.0.2.1")
	if err := e.svc.Revoke(ctx, r.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
}

// A revocation costs seven round trips: fosite's look-up of the token and its
// revocation of the request's tokens, then begin, the grant's tokens revoked,
// the grant ended (compare-and-set), the audit record and commit. It was nine:
// Revoke read the token fosite had just read, and then its grant for the audit
// record's account and correlation id, which the token's session holds. The
// record still names the grant's.
func TestRevokeRoundTrips(t *testing.T) {
	e := newBenchEnv(t)
	e.revoke(t, e.redeem(t, e.issue(t))) // prepares the statements on a connection
	tok := e.redeem(t, e.issue(t))
	start := e.db.RoundTrips()
	e.revoke(t, tok)
	if n := e.db.RoundTrips() - start; n != 7 {
		t.Fatalf("a revocation took %d round trips; want 7", n)
	}
	var person, corr, object, account, grantCorr, grant, state string
	if err := e.db.Pool.QueryRow(context.Background(), `select a.person_id, a.correlation_id, a.object_id,
			g.account_id::text, g.correlation_id, g.id::text, g.state
		from audit_log a join consent_grant g on g.id::text = a.object_id
		where a.action = 'token_revoked' order by a.seq desc limit 1`).Scan(&person, &corr, &object, &account, &grantCorr, &grant, &state); err != nil {
		t.Fatal(err)
	}
	if person != account || person != e.who.AccountID || corr != grantCorr || corr == "" || object != grant || state != "used" {
		t.Fatalf("token_revoked names person %s, correlation %s, object %s; the grant is %s's, %s, %s (%s)",
			person, corr, object, account, grantCorr, grant, state)
	}
}
