package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

const certHeader = "X-Client-Cert"

func TestPeerRoutesOnPlainListener(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	other := newTestCA(t, "Other CA")
	withCA := func(header string) func(*config.Config) {
		return func(c *config.Config) {
			c.ClientCA = ca.file
			c.PlainAddr = "127.0.0.1:0"
			c.ProxyClientCertHeader = header
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("10.1.0.0/16")}
		}
	}
	valid := ca.issue(t, "pgo-zuid.example", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
	tests := []struct {
		name       string
		edit       func(*config.Config)
		header     string
		wantStatus int
		wantDetail string
		remote     string // TCP peer of the plain listener; default the proxy on loopback
	}{
		{"no client CA", nil, url.PathEscape(valid), 401, "PGO_CLIENT_CA", ""},
		{"plain without trusted header", withCA(""), url.PathEscape(valid), 401, "not available over plain HTTP", ""},
		{"header missing", withCA(certHeader), "", 401, "passed none", ""},
		{"valid", withCA(certHeader), url.PathEscape(valid), 200, "", ""},
		{"valid, nginx-style escaping", withCA(certHeader), url.QueryEscape(valid), 200, "", ""},
		{"unknown CA", withCA(certHeader), url.PathEscape(other.issue(t, "evil.example", x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))), 401, "not valid", ""},
		{"server-only certificate", withCA(certHeader), url.PathEscape(ca.issue(t, "srv.example", x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))), 401, "not valid", ""},
		{"expired", withCA(certHeader), url.PathEscape(ca.issue(t, "old.example", x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Minute))), 401, "not valid", ""},
		{"garbage", withCA(certHeader), "%zz", 401, "not valid", ""},
		{"not PEM", withCA(certHeader), "hello", 401, "not valid", ""},
		// Anyone who reaches the plain listener directly could otherwise replay a
		// peer's (public) certificate in the header and pass as that peer.
		{"valid header, but not from a proxy address", withCA(certHeader), url.PathEscape(valid), 401, "trusted proxy", "203.0.113.7:40000"},
		{"valid header from a listed private-network proxy", withCA(certHeader), url.PathEscape(valid), 200, "", "10.1.2.3:40000"},
		// issue 15, finding 3: a neighbour on a private network that is not a
		// listed proxy cannot pose as a peer PGO by copying its public certificate.
		{"valid header from an unlisted private neighbour", withCA(certHeader), url.PathEscape(valid), 401, "trusted proxy", "10.2.0.9:40000"},
		{"valid header from an unlisted link-local neighbour", withCA(certHeader), url.PathEscape(valid), 401, "trusted proxy", "[fe80::1]:40000"},
		{"valid header from an IPv6 loopback proxy", withCA(certHeader), url.PathEscape(valid), 200, "", "[::1]:40000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, tt.edit)
			req := httptest.NewRequest(http.MethodGet, "/peer/ping", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if tt.remote != "" {
				req.RemoteAddr = tt.remote
			}
			if tt.header != "" {
				req.Header.Set(certHeader, tt.header)
			}
			w := do(s, req)
			b := body(t, w)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, b)
			}
			if tt.wantStatus == 200 {
				var got map[string]any
				if err := json.Unmarshal([]byte(b), &got); err != nil || got["client"] != "pgo-zuid.example" || got["thumbprint"] == "" {
					t.Errorf("ping answer %s (%v)", b, err)
				}
				return
			}
			if w.Header().Get("Content-Type") != "application/problem+json" || !strings.Contains(b, tt.wantDetail) {
				t.Errorf("401 body %s, want detail with %q", b, tt.wantDetail)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	s, _ := newTestServer(t, nil)
	if _, err := s.TLSConfig(); err == nil || !strings.Contains(err.Error(), "PGO_TLS_CERT") {
		t.Fatalf("no certificate: err = %v, want one naming PGO_TLS_CERT", err)
	}
	if err := s.Serve(context.Background(), Listeners{}); err == nil {
		t.Fatal("Serve without a TLS listener must fail")
	}
}

func TestBadClientCA(t *testing.T) {
	cfg := config.MustDefault()
	bad := t.TempDir() + "/ca.pem"
	if err := writeFile(bad, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	cfg.ClientCA = bad
	log, _ := reqctx.NewLogger(io.Discard, "info")
	if _, err := New(Deps{Config: cfg, Logger: log}); err == nil || !strings.Contains(err.Error(), "PGO_CLIENT_CA") {
		t.Fatalf("err = %v, want one naming PGO_CLIENT_CA", err)
	}
}
