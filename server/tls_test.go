package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// writeServerKeyPair writes a self-signed server certificate and its key (with
// keyMode) and returns both paths.
func writeServerKeyPair(t *testing.T, keyMode os.FileMode) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), keyMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, keyMode); err != nil {
		t.Fatal(err)
	}
	return cert, keyFile
}

// The server's private key must not be readable by every local user: whoever
// reads it can impersonate this PGO to patients and peers. Group read stays
// allowed (the ssl-cert group convention).
func TestTLSKeyFileMode(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		want string // "" = accepted
	}{
		{0o600, ""},
		{0o640, ""},
		{0o644, "PGO_TLS_KEY: mode 0644 lets every user read the private key"},
		{0o666, "PGO_TLS_KEY: mode 0666 lets every user read the private key"},
	} {
		cert, key := writeServerKeyPair(t, tt.mode)
		s, err := newServerErr(func(c *config.Config) { c.TLSCert, c.TLSKey = cert, key })
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("mode %04o: %v", tt.mode, err)
		case tt.want == "" && s.cert == nil:
			t.Errorf("mode %04o: no certificate loaded", tt.mode)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("mode %04o: err = %v, want %q", tt.mode, err, tt.want)
		}
	}
}

// newServerErr builds a Server on the default configuration changed by edit and
// returns New's error instead of failing the test.
func newServerErr(edit func(*config.Config)) (*Server, error) {
	cfg := config.MustDefault()
	edit(cfg)
	log, err := reqctx.NewLogger(io.Discard, "info")
	if err != nil {
		return nil, err
	}
	return New(Deps{Config: cfg, Logger: log})
}

// The hybrid post-quantum key exchange comes first: a client that offers only
// X25519MLKEM768 gets it, and a client offering it next to X25519 gets it too
// (the server prefers it). A TLS 1.2 client still gets X25519.
func TestTLSPrefersHybridPostQuantum(t *testing.T) {
	cert, key := writeServerKeyPair(t, 0o600)
	cfg := config.MustDefault()
	cfg.TLSCert, cfg.TLSKey = cert, key
	s, err := New(Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := s.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	tests := []struct {
		name   string
		max    uint16
		offer  []tls.CurveID
		want   tls.CurveID
		wantOK bool
	}{
		{"only hybrid", tls.VersionTLS13, []tls.CurveID{tls.X25519MLKEM768}, tls.X25519MLKEM768, true},
		{"classical first, hybrid offered", tls.VersionTLS13, []tls.CurveID{tls.X25519, tls.X25519MLKEM768}, tls.X25519MLKEM768, true},
		{"TLS 1.2", tls.VersionTLS12, []tls.CurveID{tls.X25519MLKEM768, tls.X25519}, tls.X25519, true},
		{"only P-521 (not offered)", tls.VersionTLS13, []tls.CurveID{tls.CurveP521}, 0, false},
	}
	for _, tt := range tests {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, //nolint:gosec // test of key exchange only
			MaxVersion: tt.max, CurvePreferences: tt.offer})
		if !tt.wantOK {
			if err == nil {
				c.Close()
				t.Errorf("%s: handshake succeeded", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := c.ConnectionState().CurveID; got != tt.want {
			t.Errorf("%s: negotiated %v; want %v", tt.name, got, tt.want)
		}
		c.Close()
	}
}
