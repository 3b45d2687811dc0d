package consentdb

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

func newStore(t *testing.T) *Store { return storeOn(storetest.DB(t)) }

// storeOn is the consent store on db, with the export store it enqueues renders through.
func storeOn(db *store.DB) *Store {
	return New(db, exportdb.New(db, func(string) store.Task { return store.Task{Type: "export:render", Payload: []byte(`{}`)} }))
}

// activeCode stores an active grant and one unused code (named name) for it.
func activeCode(t *testing.T, s *Store, name string) (consent.Grant, consent.Code) {
	t.Helper()
	ctx := context.Background()
	g := grant(consent.StateActive)
	if _, err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	c := consent.Code{Signature: sig(name), RequestID: "req-" + name, GrantID: g.ID, Request: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	if err := s.CreateCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	return g, c
}

func grant(state consent.State) consent.Grant {
	now := time.Now().UTC().Truncate(time.Microsecond)
	g := consent.Grant{ID: uuid.NewString(), AccountID: uuid.NewString(), ClientID: "zuid.localhost", ClientName: "PGO Zuid",
		Scope: "noord~51", State: state, Created: now, Expires: now.Add(15 * time.Minute)}
	if state == consent.StateRefused {
		g.Ended = now
	} else {
		g.Categories, g.ExportJobID = []dossier.Category{dossier.CatProblems}, uuid.NewString()
	}
	return g
}

func sig(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }

// A code is redeemed once: of many concurrent compare-and-sets exactly one wins.
func TestUseCodeOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, c := activeCode(t, s, "code")
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseCode(ctx, c.Signature, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if ok {
				wins++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	got, err := s.Code(ctx, c.Signature)
	if wins != 1 || err != nil || got.Used.IsZero() {
		t.Fatalf("wins %d, code %+v, %v", wins, got, err)
	}
	if _, err := s.Code(ctx, sig("other")); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("unknown code: %v", err)
	}
}

// A grant ends once (compare-and-set from active); its tokens are revoked with it;
// the database refuses an allowed grant without categories or export job.
func TestGrantLifecycle(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	g := grant(consent.StateActive)
	if _, err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	tok := consent.Token{Signature: sig("token"), ID: uuid.NewString(), RequestID: "req-1", GrantID: g.ID, ClientID: g.ClientID,
		Thumbprint: "tp", Request: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ok1, err1 := s.EndGrant(ctx, g.ID, consent.StateWithdrawn, now)
	ok2, err2 := s.EndGrant(ctx, g.ID, consent.StateUsed, now)
	if !ok1 || ok2 || err1 != nil || err2 != nil {
		t.Fatalf("end twice: %v %v %v %v", ok1, ok2, err1, err2)
	}
	if n, err := s.RevokeGrantTokens(ctx, g.ID, now); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if n, _ := s.RevokeTokens(ctx, "req-1", now); n != 0 {
		t.Errorf("revoked twice: %d", n)
	}
	got, back, err := s.TokenGrant(ctx, tok.ID)
	if err != nil || got.ID != tok.ID || got.Revoked.IsZero() || back.ID != g.ID || back.State != consent.StateWithdrawn || back.Ended.IsZero() {
		t.Errorf("token %+v grant %+v: %v", got, back, err)
	}
	bad := grant(consent.StateActive)
	bad.Categories = nil
	if _, err := s.CreateGrant(ctx, bad); pgo.ErrorCode(err) != pgo.EINVALID {
		t.Errorf("grant without categories: %v", err)
	}
	if _, err := s.CreateGrant(ctx, grant(consent.StateRefused)); err != nil {
		t.Errorf("refused grant: %v", err)
	}
	if list, _ := s.Grants(ctx, g.AccountID); len(list) != 1 {
		t.Errorf("grants of the account: %d", len(list))
	}
	if _, _, err := s.TokenGrant(ctx, "not-a-uuid"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("bad token id: %v", err)
	}
	if _, _, err := s.TokenGrant(ctx, uuid.NewString()); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("unknown token id: %v", err)
	}
}

// InTx: everything in the function commits together or not at all, audit
// records included; Begin inside InTx joins the transaction and leaves its
// commit to the owner.
func TestInTxAtomic(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	g := grant(consent.StateActive)
	ev := audit.Event{Action: audit.ActConsentGranted, Outcome: audit.Success, ActorType: audit.ActorUser, ActorID: g.AccountID}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.CreateGrant(ctx, g); err != nil {
			return err
		}
		if err := s.Audit(ctx, ev); err != nil {
			return err
		}
		inner, err := s.Begin(ctx)
		if err != nil {
			return err
		}
		if err := s.Commit(inner); err != nil {
			return err
		}
		return pgo.Errorf(pgo.ECONFLICT, "roll back")
	})
	if pgo.ErrorCode(err) != pgo.ECONFLICT {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := s.Grant(ctx, g.ID); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("the grant survived the rollback: %v", err)
	}
	var n int
	_ = s.db.Pool.QueryRow(ctx, `select count(*) from audit_log where action = 'consent_granted'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d audit records survived the rollback", n)
	}
}

// Issue 11: a rendered export is deleted PGO_EXPORT_GRACE after its grant ends.
// Its deletion time starts at the grant's expiry (so an export nobody fetched
// goes too), and ending the grant marks the export in the same statement.
func TestGrantEndMarksItsExport(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	g := grant(consent.StateActive)
	jobs := export.NewJobs(export.JobsConfig{})
	job, ev, err := jobs.Prepare(export.Request{UserID: g.AccountID, Categories: g.Categories, ActorType: audit.ActorUser, ActorID: g.AccountID})
	if err != nil {
		t.Fatal(err)
	}
	g.ExportJobID = job.ID
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.CreateGrant(ctx, g); err != nil {
			return err
		}
		return s.CreateExport(ctx, job, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	var serveUntil, ended *time.Time
	read := func() {
		t.Helper()
		if err := s.db.Pool.QueryRow(ctx, `select serve_until, grant_ended_at from export_job where id = $1`, job.ID).Scan(&serveUntil, &ended); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if serveUntil == nil || !serveUntil.Equal(g.Expires) || ended != nil {
		t.Fatalf("after allow: serve_until %v (want %v), grant_ended_at %v", serveUntil, g.Expires, ended)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	if ok, err := s.EndGrant(ctx, g.ID, consent.StateUsed, at); !ok || err != nil {
		t.Fatal(ok, err)
	}
	read()
	if ended == nil || !ended.Equal(at) {
		t.Fatalf("after the grant ended: grant_ended_at %v; want %v", ended, at)
	}
}

// A token request reads its code, challenge and grant in one statement, and
// redeems the code and stores the token in another: the code is used once, and
// no token is stored for a grant that is not the code's or no longer active.
func TestRedemptionAndRedeemCode(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	g := grant(consent.StateActive)
	if _, err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	newCode := func(name string, pkce bool) consent.Code {
		c := consent.Code{Signature: sig(name), RequestID: "req-" + name, GrantID: g.ID, Request: []byte(`{"c":1}`), Expires: time.Now().Add(time.Minute)}
		if err := s.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		if pkce {
			if err := s.CreatePKCE(ctx, c.Signature, []byte(`{"p":1}`)); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	c := newCode("code", true)
	r, err := s.Redemption(ctx, c.Signature)
	if err != nil || r.Code.GrantID != g.ID || r.Code.RequestID != c.RequestID || !r.Code.Used.IsZero() ||
		string(r.PKCE) != `{"p": 1}` || r.Grant.ID != g.ID || r.Grant.State != consent.StateActive || len(r.Grant.Categories) != 1 {
		t.Fatalf("redemption %+v, %v", r, err)
	}
	if r, err := s.Redemption(ctx, newCode("plain", false).Signature); err != nil || r.PKCE != nil || r.Grant.ID != g.ID {
		t.Fatalf("redemption without a challenge: %+v, %v", r, err)
	}
	if _, err := s.Redemption(ctx, sig("other")); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Fatalf("unknown code: %v", err)
	}
	tok := func(name, grantID string) consent.Token {
		return consent.Token{Signature: sig(name), ID: uuid.NewString(), RequestID: c.RequestID, GrantID: grantID,
			ClientID: g.ClientID, Thumbprint: "x5t", Request: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	}
	// The token's audit records come in the same transaction: written with the
	// token, and not at all (the code left unused) when no token is stored.
	records := func(tk consent.Token) int {
		var n int
		if err := s.db.Pool.QueryRow(ctx, `select count(*) from audit_log where details->>'jti' = $1`, tk.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	redeem := func(code consent.Code, tk consent.Token, want consent.RedeemOutcome) {
		t.Helper()
		evs := []audit.Event{
			{Action: audit.ActCodeRedeemed, Outcome: audit.Success, ActorType: audit.ActorPeer, ActorID: g.ClientID, Details: map[string]string{"jti": tk.ID}},
			{Action: audit.ActTokenIssued, Outcome: audit.Success, ActorType: audit.ActorPeer, ActorID: g.ClientID, Details: map[string]string{"jti": tk.ID}},
		}
		out, err := s.RedeemCode(ctx, code.Signature, time.Now(), tk, evs...)
		if err != nil || out != want {
			t.Fatalf("redeem: %v, %v; want %v", out, err, want)
		}
		_, err = s.Token(ctx, tk.Signature)
		if stored := err == nil; stored != (want == consent.Redeemed) {
			t.Fatalf("outcome %v but token stored %v (%v)", want, stored, err)
		}
		if n, wantN := records(tk), map[bool]int{true: 2, false: 0}[want == consent.Redeemed]; n != wantN {
			t.Fatalf("outcome %v with %d audit records; want %d", want, n, wantN)
		}
		if want == consent.GrantEnded {
			if c, err := s.Code(ctx, code.Signature); err != nil || !c.Used.IsZero() {
				t.Fatalf("a code without a token was left used (%v, %v): the redemption did not roll back", c.Used, err)
			}
		}
	}
	redeem(c, tok("t1", g.ID), consent.Redeemed)
	redeem(c, tok("t2", g.ID), consent.CodeUsed)
	redeem(newCode("wrong-grant", false), tok("t3", uuid.NewString()), consent.GrantEnded)
	if _, err := s.EndGrant(ctx, g.ID, consent.StateWithdrawn, time.Now()); err != nil {
		t.Fatal(err)
	}
	redeem(newCode("ended", false), tok("t4", g.ID), consent.GrantEnded)

	// In the context's transaction it joins it: the caller's rollback takes the
	// token and its records back.
	g2 := grant(consent.StateActive)
	if _, err := s.CreateGrant(ctx, g2); err != nil {
		t.Fatal(err)
	}
	c2 := consent.Code{Signature: sig("in-tx"), RequestID: "req-in-tx", GrantID: g2.ID, Request: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	if err := s.CreateCode(ctx, c2); err != nil {
		t.Fatal(err)
	}
	tk := tok("t5", g2.ID)
	err = s.InTx(ctx, func(ctx context.Context) error {
		ev := audit.Event{Action: audit.ActTokenIssued, Outcome: audit.Success, ActorType: audit.ActorPeer, ActorID: g2.ClientID, Details: map[string]string{"jti": tk.ID}}
		if out, err := s.RedeemCode(ctx, c2.Signature, time.Now(), tk, ev); err != nil || out != consent.Redeemed {
			t.Fatalf("redeem in a transaction: %v, %v", out, err)
		}
		return pgo.Errorf(pgo.ECONFLICT, "roll back")
	})
	if pgo.ErrorCode(err) != pgo.ECONFLICT {
		t.Fatal(err)
	}
	if c, err := s.Code(ctx, c2.Signature); err != nil || !c.Used.IsZero() || records(tk) != 0 {
		t.Fatalf("after the caller's rollback: code used %v (%v), %d records", c.Used, err, records(tk))
	}
}

// A refused redemption aborts its batch's transaction on the server; RedeemCode
// ends it, so the connection goes back to the pool idle, not closed (the pool
// closes a connection released inside a transaction). One connection, so the
// backend before and after must be the same.
func TestRefusedRedemptionKeepsItsConnection(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.Schema(t)+"&pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s := storeOn(db)
	g, c := activeCode(t, s, "once")
	backend := func() int32 {
		var pid int32
		if err := db.Pool.QueryRow(ctx, `select pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	tok := consent.Token{Signature: sig("tok"), ID: uuid.NewString(), RequestID: c.RequestID, GrantID: g.ID,
		ClientID: g.ClientID, Thumbprint: "x5t", Request: []byte(`{}`), Expires: time.Now().Add(time.Minute)}
	if out, err := s.RedeemCode(ctx, c.Signature, time.Now(), tok); err != nil || out != consent.Redeemed {
		t.Fatalf("first redemption: %v, %v", out, err)
	}
	before := backend()
	tok.Signature, tok.ID = sig("tok2"), uuid.NewString()
	if out, err := s.RedeemCode(ctx, c.Signature, time.Now(), tok); err != nil || out != consent.CodeUsed {
		t.Fatalf("second redemption: %v, %v; want CodeUsed", out, err)
	}
	if after := backend(); after != before {
		t.Fatalf("the refusal closed its connection (backend %d, then %d): its transaction was left open", before, after)
	}
}

// Creating an export finds the grants that name it by index, not by reading
// every grant ever made (migration 020).
func TestCreateExportFindsItsGrantsByIndex(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.db.Pool.Exec(ctx, `insert into consent_grant (id, account_id, client_id, client_name, scope,
		categories, state, export_job_id, created_at, expires_at, ended_at)
		select gen_random_uuid(), gen_random_uuid(), 'zuid.localhost', 'PGO Zuid', 'noord~51', '{problems}', 'used',
			gen_random_uuid(), now(), now(), now()
		from generate_series(1, 5000)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Pool.Exec(ctx, `analyze consent_grant`); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.Pool.Query(ctx, `explain `+serveUntilSQL, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if strings.Contains(plan, "Seq Scan on consent_grant") || !strings.Contains(plan, "consent_grant_export_job") {
		t.Fatalf("the export's grants are not found by index:\n%s", plan)
	}
}

// Two decisions of the same authorization flow (a double submit) that run at
// once end like two in a row: one grant stays active, the other is superseded,
// and the active one's audit record, written in its decision's transaction,
// names the grant it superseded. Under READ COMMITTED neither statement saw the
// other's uncommitted grant, and both stayed active.
func TestConcurrentDecisionsOneActive(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := range 25 {
		account := uuid.NewString()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := grant(consent.StateActive)
				g.AccountID, g.AuthorizeStateHash = account, sig("state-concurrent")
				<-start
				err := s.InTx(ctx, func(ctx context.Context) error {
					superseded, err := s.CreateGrant(ctx, g)
					if err != nil {
						return err
					}
					ev := audit.Event{Action: audit.ActConsentGranted, Outcome: audit.Success, ActorType: audit.ActorUser,
						ActorID: account, PersonID: account, ObjectType: "consent", ObjectID: g.ID, Details: map[string]string{}}
					if len(superseded) > 0 {
						ev.Details["supersedes"] = strings.Join(superseded, ",")
					}
					return s.Audit(ctx, ev)
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		var active, superseded, named int
		err := s.db.Pool.QueryRow(ctx, `select count(*) filter (where g.state = 'active'),
			count(*) filter (where g.state = 'superseded'),
			count(*) filter (where g.state = 'active' and a.details->>'supersedes' = (select id::text
				from consent_grant where account_id = $1 and state = 'superseded'))
			from consent_grant g join audit_log a on a.object_id = g.id::text and a.action = 'consent_granted'
			where g.account_id = $1`, account).Scan(&active, &superseded, &named)
		if err != nil {
			t.Fatal(err)
		}
		if active != 1 || superseded != 1 || named != 1 {
			t.Fatalf("round %d: %d active, %d superseded, %d records naming the superseded grant; want 1, 1, 1", i, active, superseded, named)
		}
	}
}
