package consent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// The fuzz targets of the authorization server's request parsers (issue 17): the
// authorization request (GET /oauth/authorize) and the token request (POST
// /oauth/token), each against the real consent store on a fresh PostgreSQL
// schema (every refusal is audited there), with the OCL and GNL the zal tests use.

const (
	fuzzClient   = "noord.example.nl" // on zal/testdata/ocl.xml with gegevensdienst 51
	fuzzCallback = "https://noord.example.nl/oauth/callback"
)

// registered lists every error code RFC 6749 §4.1.2.1 and §5.2 define.
var registered = map[string]bool{"invalid_request": true, "unauthorized_client": true, "access_denied": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true, "temporarily_unavailable": true,
	"invalid_client": true, "invalid_grant": true, "unsupported_grant_type": true}

func fuzzService(f *testing.F) *consent.Service {
	db := storetest.DB(f)
	return newService(f, consentdb.New(db, exportdb.New(db, worker.NewRenderTask)), noDossier{}, noExports{})
}

// newService is the authorization server "zuid.example.nl" on st, with the OCL
// and GNL the zal tests use (noord.example.nl may ask for gegevensdienst 51) and
// a fresh signing key; opts change the parts before it is built.
func newService(tb testing.TB, st consent.Store, d consent.Dossier, ex consent.Exports, opts ...func(*consent.Deps)) *consent.Service {
	key, err := vault.GenerateSigningKey()
	if err != nil {
		tb.Fatal(err)
	}
	deps := consent.Deps{Store: st, Lists: testLists(tb, ""), Dossier: d, Exports: ex, Signer: key}
	for _, o := range opts {
		o(&deps)
	}
	svc, err := consent.New(consent.Config{Issuer: "https://zuid.example.nl", ProviderName: "zuid", RequirePKCE: true,
		Redirects: map[string][]string{fuzzClient: {fuzzCallback}, "zuid.example.nl": {"https://zuid.example.nl/cb"}}},
		deps)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// testLists are the zal tests' GNL with their OCL, or with ocl instead when
// it is not "".
func testLists(tb testing.TB, ocl string) *zal.Registry {
	o, err := zal.ParseFile("../zal/testdata/ocl.xml", zal.ParseOptions{})
	if ocl != "" {
		o, err = zal.Parse([]byte(ocl), zal.ParseOptions{})
	}
	if err != nil {
		tb.Fatal(err)
	}
	g, err := zal.ParseFile("../zal/testdata/gnl.xml", zal.ParseOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return zal.NewStatic(o, g)
}

// oauthRefusal wants an *OAuthError with a registered code that either goes back
// to the registered redirect_uri with a description, or carries a precise
// *pgo.Error for the error page: never a redirect anywhere else.
func oauthRefusal(t *testing.T, err error) *consent.OAuthError {
	t.Helper()
	var oe *consent.OAuthError
	if !errors.As(err, &oe) || !registered[oe.Code] {
		t.Fatalf("refusal is not a registered OAuth error: %T %v", err, err)
	}
	var pe *pgo.Error
	switch {
	case oe.Redirect != nil && oe.Redirect.String() != fuzzCallback && oe.Redirect.String() != "https://zuid.example.nl/cb":
		t.Fatalf("error sent to an unregistered redirect_uri %q", oe.Redirect)
	case oe.Redirect != nil && oe.Description == "":
		t.Fatalf("redirected %s without a description", oe.Code)
	case oe.Redirect == nil && !oe.JSON && (!errors.As(oe.Err, &pe) || pe.Message == ""):
		t.Fatalf("error page %s without a message: %v", oe.Code, oe.Err)
	}
	return oe
}

// FuzzAuthorize: an authorization request (its raw query) is accepted only for a
// registered client, its exact redirect_uri, the scope zuid~51, a state and PKCE
// S256; anything else is a registered OAuth error (RFC 6749 §4.1.2.1).
func FuzzAuthorize(f *testing.F) {
	svc := fuzzService(f)
	good := "response_type=code&client_id=" + fuzzClient + "&redirect_uri=" + fuzzCallback +
		"&scope=zuid~51&state=s-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256" +
		"&MedMij-Request-ID=0f1e7a4c-9a4e-4bd4-9f57-6d3c2a1b0c9d&X-Correlation-ID=5b0f4f0e-3c3d-4e0a-8f69-1c2b3a4d5e6f"
	for _, q := range []string{good, good + "&state=s-2", strings.Replace(good, "S256", "plain", 1),
		strings.Replace(good, fuzzCallback, fuzzCallback+"/", 1), strings.Replace(good, "zuid~51", "zuid~4", 1),
		"client_id=evil.example&redirect_uri=https://evil.example/cb", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize", nil)
		r.URL.RawQuery = query
		req, err := svc.Authorize(context.Background(), r, consent.Caller{IP: "192.0.2.1"})
		if err != nil {
			oauthRefusal(t, err)
			return
		}
		q := r.Form
		if req.ClientID != fuzzClient || q.Get("redirect_uri") != fuzzCallback || req.Scope != "zuid~51" ||
			req.State == "" || q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" {
			t.Fatalf("accepted %q as %+v", query, req)
		}
	})
}

// FuzzToken: no token request is granted without a code issued here (none is
// issued while fuzzing), and each refusal is a registered OAuth error as JSON
// (RFC 6749 §5.2), whatever the form says.
func FuzzToken(f *testing.F) {
	svc := fuzzService(f)
	peer := reqctx.Peer{Name: fuzzClient, DNSNames: []string{fuzzClient}, Thumbprint: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
	good := "grant_type=authorization_code&code=Yx1dQ0n3cLrjV0n4cnWlq2r8k3J9vT0yF3m4nA&redirect_uri=" + fuzzCallback +
		"&client_id=" + fuzzClient + "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	for _, b := range []string{good, good + "&client_secret=s", strings.Replace(good, "authorization_code", "refresh_token", 1),
		strings.Replace(good, fuzzClient, "zuid.example.nl", 2), "grant_type=authorization_code", ""} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ctx := reqctx.WithPeer(context.Background(), peer)
		resp, err := svc.Token(ctx, r.WithContext(ctx))
		if err == nil {
			t.Fatalf("granted a token without an issued code: %q -> %+v", body, resp)
		}
		if oe := oauthRefusal(t, err); !oe.JSON || oe.Redirect != nil {
			t.Fatalf("token refusal %s is not JSON", oe.Code)
		}
	})
}

// The patient's dossier and the export jobs are not reached by refused requests.
type (
	noDossier struct{ consent.Dossier }
	noExports struct{ consent.Exports }
)
