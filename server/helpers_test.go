package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// syncBuffer is a log sink that handlers on many goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestServer builds a Server on the default configuration (changed by edit)
// with its log captured in the returned buffer.
func newTestServer(t *testing.T, edit func(*config.Config), checkers ...Checker) (*Server, *syncBuffer) {
	t.Helper()
	cfg := config.MustDefault()
	cfg.MaxBodyBytes = 1024
	cfg.InstanceName = "PGO Test"
	if edit != nil {
		edit(cfg)
	}
	logs := &syncBuffer{}
	log, err := reqctx.NewLogger(logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Deps{Config: cfg, Logger: log, Checkers: checkers})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// do sends req through the server's handler and returns the recorded response.
// do serves req as the listener of its route would: operations routes
// (KindOps) on the operations listener, everything else on the public one.
func do(s *Server, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h := s.Handler()
	c := s.ops.NewContext(req, nil)
	s.ops.Router().Find(req.Method, echo.GetPath(req), c)
	if p := c.Path(); p != "" && p != "/healthz" && s.kinds[p] == KindOps {
		h = s.OpsHandler()
	}
	h.ServeHTTP(w, req)
	return w
}

func body(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	b, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testCA is a throw-away CA that issues client certificates for the peer tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of the CA certificate
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue makes a leaf certificate for host with the given extended key usage and
// validity, returned as PEM.
func (ca *testCA) issue(t *testing.T, host string, eku x509.ExtKeyUsage, notAfter time.Time) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// failingChecker fails with an error text that must stay in the log.
type failingChecker struct{ name string }

func (f failingChecker) Name() string { return f.name }
func (f failingChecker) Check(context.Context) error {
	return &net500{"dial tcp 127.0.0.1:1: connection refused (secret-detail)"}
}

type net500 struct{ s string }

func (e *net500) Error() string { return e.s }
