package transfer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// A source that gzips the Binary when the client accepts it is correct (RFC 9530:
// Content-Digest is over the encoded bytes): we ask for no coding, so we get the
// bytes unencoded and the transfer completes. One that gzips unasked is refused
// for its encoding, not as a damaged document (digest_mismatch).
func TestGzippingSource(t *testing.T) {
	t.Run("gzip when asked", func(t *testing.T) {
		e := newEnv(t, true, nil)
		e.src.Set(transfertest.Faults{Gzip: "asked", Digest: true, AnnounceSize: true, AnnounceHash: true})
		tr := e.fetch(t, e.consent(t).ID)
		if tr.Status != transfer.StatusDone || !bytes.Equal(e.open(t, tr.ID), e.pdf) {
			t.Fatalf("%s (%s: %s); want done with the source's bytes", tr.Status, tr.Failure, tr.FailureDetail)
		}
	})
	t.Run("gzip unasked", func(t *testing.T) {
		e := newEnv(t, true, nil)
		e.src.Set(transfertest.Faults{Gzip: "always", Digest: true, AnnounceSize: true, AnnounceHash: true})
		tr := e.fetch(t, e.consent(t).ID)
		if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonHTTP ||
			!strings.Contains(tr.FailureDetail, `with Content-Encoding "gzip", which we did not ask for`) {
			t.Fatalf("%s (%s: %s); want failed for the Content-Encoding", tr.Status, tr.Failure, tr.FailureDetail)
		}
		if e.documents(t, tr.ID) != 0 {
			t.Error("an encoded document was stored")
		}
	})
}

// otherNode starts another MedMij node, doel.localhost (on the Whitelist), that
// counts the requests it receives.
func otherNode(t *testing.T, e *env) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer","expires_in":900}`))
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert,
		Certificates: []tls.Certificate{e.ca.Issue(t, "doel.localhost", x509.ExtKeyUsageServerAuth)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "https://doel.localhost:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:], &hits
}

// A source that redirects its token endpoint (307: method and body kept) or a
// Binary to another node on the Whitelist: the code, the PKCE verifier and the
// bearer token go nowhere else (MedMij's token and FHIR interfaces do not
// redirect), and the transfer fails saying so.
func TestSourceRedirectsAreNotFollowed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, nil)
	other, hits := otherNode(t, e)
	t.Run("token endpoint 307", func(t *testing.T) {
		_, q := e.authorize(t)
		code := e.src.IssueCode(q.Get("code_challenge"))
		e.src.Set(transfertest.Faults{TokenRedirectTo: other + "/oauth/token"})
		tr, err := e.svc.HandleCallback(ctx, e.actor, transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
		if n := hits.Load(); n != 0 {
			t.Errorf("the other node received %d requests", n)
		}
		expectFailed(t, e, tr, err, transfer.ReasonHTTP)
		if want := "the token endpoint: the peer answered 307, a redirect to " + other + ", which was not followed"; !strings.Contains(tr.FailureDetail, want) {
			t.Errorf("detail %q, want %q", tr.FailureDetail, want)
		}
	})
	t.Run("Binary 302", func(t *testing.T) {
		e.src.Set(transfertest.Faults{})
		tr := e.consent(t)
		e.src.Set(transfertest.Faults{RedirectTo: other + "/51/fhir/Binary/1"})
		tr = e.fetch(t, tr.ID)
		if n := hits.Load(); n != 0 {
			t.Errorf("the other node received %d requests", n)
		}
		if want := "the peer answered 302, a redirect to " + other + ", which was not followed"; tr.Status != transfer.StatusFailed ||
			tr.Failure != transfer.ReasonHTTP || !strings.Contains(tr.FailureDetail, want) {
			t.Errorf("%s (%s: %s); want failed, %s: %s", tr.Status, tr.Failure, tr.FailureDetail, transfer.ReasonHTTP, want)
		}
	})
}
