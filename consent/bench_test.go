package consent_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// The Go benchmarks of the authorization server's hot parts (issue 16), on the
// real consent store in a fresh PostgreSQL schema: the consent decision that
// issues a code, the token request that redeems it (fosite, PKCE, the single-use
// compare-and-set, the ES256 JWT, the token row and its two audit records in one
// transaction), and the resource server's access-token check. Each reports the
// database round trips per operation (statements and batches sent, counted by a
// pgx tracer), since those, not the CPU, bound the token endpoint. Compare runs
// with benchstat:
//
//	go test -run '^$' -bench 'CodeIssue|TokenIssue|TokenCheck' -count 5 ./consent/ > new.txt

// reportTrips adds db's round trips per operation since start (store.DB's
// counter) to b's results.
func reportTrips(b *testing.B, db *store.DB, start uint64) {
	b.ReportMetric(float64(db.RoundTrips()-start)/float64(b.N), "roundtrips/op")
}

// benchEnv is a consent service on a fresh schema whose pool counts round trips.
type benchEnv struct {
	svc  *consent.Service
	db   *store.DB // counts its round trips (store.DB.RoundTrips)
	peer reqctx.Peer
	who  consent.Caller
}

func newBenchEnv(b testing.TB) *benchEnv { return newBenchEnvWrap(b, nil) }

// newBenchEnvWrap is newBenchEnv with the store wrapped by wrap (when not nil)
// and the service's parts changed by opts.
func newBenchEnvWrap(b testing.TB, wrap func(*consentdb.Store) consent.Store, opts ...func(*consent.Deps)) *benchEnv {
	db := storetest.DB(b)
	exp := exportdb.New(db, worker.NewRenderTask)
	e := &benchEnv{db: db, who: consent.Caller{AccountID: uuid.NewString(), IP: "192.0.2.1"},
		peer: reqctx.Peer{Name: fuzzClient, DNSNames: []string{fuzzClient}, Thumbprint: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}
	var st consent.Store = consentdb.New(db, exp)
	if wrap != nil {
		st = wrap(consentdb.New(db, exp))
	}
	e.svc = newService(b, st, oneCategory{}, export.NewJobs(export.JobsConfig{Store: exp}), opts...)
	return e
}

// oneCategory is a dossier with one problem in it: enough to consent to.
type oneCategory struct{ consent.Dossier }

func (oneCategory) Counts(context.Context, string) (map[dossier.Category]int, error) {
	return map[dossier.Category]int{dossier.CatProblems: 1}, nil
}

// issued is a code with its PKCE verifier.
type issued struct{ code, verifier string }

// issue runs one consent decision ("allow") and returns its code.
func (e *benchEnv) issue(b testing.TB) issued {
	v := make([]byte, 32)
	_, _ = rand.Read(v)
	is := issued{verifier: base64.RawURLEncoding.EncodeToString(v)}
	sum := sha256.Sum256([]byte(is.verifier))
	form := url.Values{"response_type": {"code"}, "client_id": {fuzzClient}, "redirect_uri": {fuzzCallback},
		"scope": {"zuid~51"}, "state": {reqctx.NewID()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, consent.ParamRequestID: {reqctx.NewID()}, consent.ParamCorrelationID: {reqctx.NewID()}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/authorize", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	loc, err := e.svc.Decide(context.Background(), r, e.who, true, []string{string(dossier.CatProblems)})
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Query().Get("code") == "" {
		b.Fatalf("consent did not redirect with a code: %q", loc)
	}
	is.code = u.Query().Get("code")
	return is
}

// redeem is one token request over "mutual TLS" (the verified peer in ctx).
func (e *benchEnv) redeem(b testing.TB, is issued) string {
	resp, err := e.token(is)
	if err != nil {
		b.Fatal(err)
	}
	return resp.AccessToken
}

func (e *benchEnv) token(is issued) (consent.TokenResponse, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {is.code}, "redirect_uri": {fuzzCallback},
		"client_id": {fuzzClient}, "code_verifier": {is.verifier}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ctx := consent.WithIP(reqctx.WithPeer(context.Background(), e.peer), "192.0.2.1")
	return e.svc.Token(ctx, r.WithContext(ctx))
}

// BenchmarkCodeIssue: the consent decision (authorization request checks, then
// grant, code, PKCE challenge, export job with its outbox row and the audit
// records in one transaction).
func BenchmarkCodeIssue(b *testing.B) {
	e := newBenchEnv(b)
	e.issue(b) // prepares the statements on a connection
	b.ReportAllocs()
	start := e.db.RoundTrips()
	for b.Loop() {
		e.issue(b)
	}
	reportTrips(b, e.db, start)
}

// BenchmarkTokenIssue: one token request at a time (codes issued before the
// timer starts). /parallel runs eight at a time, as `pgo bench token` does over
// its eight connections, so what serialises them (the audit chain head, the
// pool) shows.
func BenchmarkTokenIssue(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		e, codes := prepareCodes(b)
		start := e.db.RoundTrips()
		b.ResetTimer()
		for i := range b.N {
			e.redeem(b, codes[i])
		}
		b.StopTimer()
		reportTrips(b, e.db, start)
	})
	b.Run("parallel", func(b *testing.B) {
		e, codes := prepareCodes(b)
		var next atomic.Int64
		start := e.db.RoundTrips()
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // eight goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.redeem(b, codes[next.Add(1)-1])
			}
		})
		b.StopTimer()
		reportTrips(b, e.db, start)
	})
}

// prepareCodes issues b.N codes (plus one redeemed as warm-up) outside the timer.
func prepareCodes(b *testing.B) (*benchEnv, []issued) {
	e := newBenchEnv(b)
	e.redeem(b, e.issue(b))
	codes := make([]issued, b.N)
	for i := range codes {
		codes[i] = e.issue(b)
	}
	b.ReportAllocs()
	return e, codes
}

// BenchmarkTokenCheck: the FHIR endpoint's check of a bearer token (ES256
// signature, claims, certificate binding, then token and grant live in
// PostgreSQL).
func BenchmarkTokenCheck(b *testing.B) {
	e := newBenchEnv(b)
	tok := e.redeem(b, e.issue(b))
	ctx := reqctx.WithPeer(context.Background(), e.peer)
	b.ReportAllocs()
	start := e.db.RoundTrips()
	for b.Loop() {
		if _, err := e.svc.CheckAccess(ctx, tok, e.peer.Thumbprint); err != nil {
			b.Fatal(err)
		}
	}
	reportTrips(b, e.db, start)
}
