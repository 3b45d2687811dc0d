package consent_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/zal"
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
	if err := e.tryRevoke(token); err != nil {
		t.Fatal(err)
	}
}

func (e *benchEnv) tryRevoke(token string) error {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}, "client_id": {fuzzClient}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/revoke", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ctx := consent.WithIP(reqctx.WithPeer(context.Background(), e.peer), "192.0.2.1")
	return e.svc.Revoke(ctx, r.WithContext(ctx))
}

// A revocation costs six round trips: fosite's look-up of the token, then
// begin, the grant's tokens revoked, the grant ended (compare-and-set), the
// audit record and commit. It was nine: Revoke read the token fosite had just
// read, and then its grant for the audit record's account and correlation id,
// which the token's session holds (the record still names the grant's); and
// fosite revoked the request's tokens in a statement of its own, outside the
// transaction (TestRevocationIsOneTransaction).
func TestRevokeRoundTrips(t *testing.T) {
	e := newBenchEnv(t)
	e.revoke(t, e.redeem(t, e.issue(t))) // prepares the statements on a connection
	tok := e.redeem(t, e.issue(t))
	start := e.db.RoundTrips()
	e.revoke(t, tok)
	if n := e.db.RoundTrips() - start; n != 6 {
		t.Fatalf("a revocation took %d round trips; want 6", n)
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

// A revocation ends the grant, revokes its tokens and writes token_revoked in
// one transaction: when that transaction fails, nothing of it stays, the token
// included (fosite revoked it in a statement of its own before).
func TestRevocationIsOneTransaction(t *testing.T) {
	e := newBenchEnv(t)
	tok := e.redeem(t, e.issue(t))
	ctx := context.Background()
	if _, err := e.db.Pool.Exec(ctx, `create function zz_fail() returns trigger language plpgsql as
		$$ begin raise exception 'injected failure'; end $$;
		create trigger zz_fail before update on consent_grant for each row when (new.state = 'used')
		execute function zz_fail()`); err != nil {
		t.Fatal(err)
	}
	state := func() (revoked bool, grant string, records int) {
		t.Helper()
		if err := e.db.Pool.QueryRow(ctx, `select (select revoked_at is not null from oauth_token),
			(select state from consent_grant), (select count(*) from audit_log where action = 'token_revoked')`).
			Scan(&revoked, &grant, &records); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := e.tryRevoke(tok); err == nil {
		t.Fatal("the revocation succeeded although its transaction failed")
	}
	if revoked, grant, n := state(); revoked || grant != "active" || n != 0 {
		t.Fatalf("after a failed revocation: token revoked %v, grant %s, %d token_revoked records; want false, active, 0",
			revoked, grant, n)
	}
	if _, err := e.db.Pool.Exec(ctx, `drop trigger zz_fail on consent_grant`); err != nil {
		t.Fatal(err)
	}
	e.revoke(t, tok)
	if revoked, grant, n := state(); !revoked || grant != "used" || n != 1 {
		t.Fatalf("after the revocation: token revoked %v, grant %s, %d token_revoked records; want true, used, 1",
			revoked, grant, n)
	}
}

// liveLists are MedMij lists that a test replaces, as a refresh does.
type liveLists struct{ cur atomic.Pointer[zal.Registry] }

func (l *liveLists) Client(host string) (zal.Client, error) { return l.cur.Load().Client(host) }
func (l *liveLists) GegevensdienstName(id string) (string, error) {
	return l.cur.Load().GegevensdienstName(id)
}

// A client whose gegevensdienst 51 the OCL takes away, or that it drops
// altogether, redeems no code it was given before and uses no token it holds:
// the token endpoint and the access check read the current OCL, not the one the
// code was issued under.
func TestOCLChangeEndsAClientsCodesAndTokens(t *testing.T) {
	raw, err := os.ReadFile("../zal/testdata/ocl.xml")
	if err != nil {
		t.Fatal(err)
	}
	ocl := string(raw)
	without51 := strings.Replace(ocl, "<GegevensdienstId>51</GegevensdienstId>", "<GegevensdienstId>5</GegevensdienstId>", 1)
	withoutClient := strings.Replace(ocl, "<Hostname>"+fuzzClient+"</Hostname>", "<Hostname>west.example.nl</Hostname>", 1)
	if without51 == ocl || withoutClient == ocl {
		t.Fatal("the test OCL changed: cannot take gegevensdienst 51 or the client away")
	}
	lists := &liveLists{}
	lists.cur.Store(testLists(t, ""))
	e := newBenchEnvWrap(t, nil, func(d *consent.Deps) { d.Lists = lists })
	ctx := reqctx.WithPeer(context.Background(), e.peer)

	for list, want := range map[string]string{without51: "invalid_grant", withoutClient: "invalid_client"} {
		lists.cur.Store(testLists(t, ""))
		is := e.issue(t)
		tok := e.redeem(t, e.issue(t))
		if _, err := e.svc.CheckAccess(ctx, tok, e.peer.Thumbprint); err != nil {
			t.Fatalf("token under the OCL it was issued under: %v", err)
		}
		lists.cur.Store(testLists(t, list))
		var oe *consent.OAuthError
		if _, err := e.token(is); !errors.As(err, &oe) || oe.Code != want {
			t.Fatalf("code issued before the OCL changed: %v; want %s", err, want)
		}
		if _, err := e.svc.CheckAccess(ctx, tok, e.peer.Thumbprint); pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
			t.Fatalf("token issued before the OCL changed still gives access: %v", err)
		}
	}
}

// A token request racing the patient's withdrawal of its grant waits for it and
// is refused: no token is left unrevoked on a withdrawn grant. The withdrawal's
// transaction is held open after it ended the grant and revoked its tokens (its
// audit record sleeps), and the token request comes meanwhile.
func TestTokenRequestWaitsForAWithdrawal(t *testing.T) {
	e := newBenchEnv(t)
	is := e.issue(t)
	ctx := context.Background()
	var grantID string
	if err := e.db.Pool.QueryRow(ctx, `select id::text from consent_grant`).Scan(&grantID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Pool.Exec(ctx, `create function zz_sleep() returns trigger language plpgsql as
		$$ begin perform pg_sleep(1.5); return new; end $$;
		create trigger zz_sleep before insert on audit_log for each row when (new.action = 'consent_withdrawn')
		execute function zz_sleep()`); err != nil {
		t.Fatal(err)
	}
	withdrawn := make(chan error, 1)
	go func() { withdrawn <- e.svc.Withdraw(ctx, grantID, e.who) }()
	time.Sleep(400 * time.Millisecond)
	_, err := e.token(is)
	if werr := <-withdrawn; werr != nil {
		t.Fatalf("withdrawal: %v", werr)
	}
	var live int
	if qerr := e.db.Pool.QueryRow(ctx, `select count(*) from oauth_token where revoked_at is null`).Scan(&live); qerr != nil {
		t.Fatal(qerr)
	}
	var oe *consent.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || live != 0 {
		t.Fatalf("token request during a withdrawal: %v, %d unrevoked tokens; want invalid_grant and none", err, live)
	}
}
