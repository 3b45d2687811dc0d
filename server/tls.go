package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tls12Suites are the TLS 1.2 cipher suites we accept: ECDHE key exchange,
// ECDSA or RSA authentication, AES-GCM or ChaCha20-Poly1305 — the suites the NCSC
// ICT-beveiligingsrichtlijnen voor TLS (v2.1) rate "goed" (TLS 1.2 itself is
// "voldoende" there, TLS 1.3 "goed"). TLS 1.3 suites are all AEAD and not
// configurable in Go. Go's server also never renegotiates and has no 0-RTT, as
// the guidelines ask.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
}

// curves are the key-exchange groups, in preference order: the hybrid
// post-quantum X25519MLKEM768 first (Go's default; it keeps today's recorded
// traffic safe from a future quantum computer, and is only offered over TLS
// 1.3), then the NCSC "goed" groups X25519, P-256 and P-384.
var curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// loadTLS reads the server key pair and the client CA bundle named in the
// configuration. Both are optional here; Serve refuses to run without a key pair.
func (s *Server) loadTLS() error {
	if s.cfg.TLSCert != "" {
		if err := checkKeyFileMode(s.cfg.TLSKey); err != nil {
			return err
		}
		kp, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("PGO_TLS_CERT/PGO_TLS_KEY: %v", err)
		}
		s.cert = &kp
	}
	if s.cfg.ClientCA != "" {
		pool, err := loadCertPool(s.cfg.ClientCA)
		if err != nil {
			return fmt.Errorf("PGO_CLIENT_CA: %v", err)
		}
		s.clientCAs = pool
	}
	return nil
}

// checkKeyFileMode refuses a server key file that every local user may read:
// whoever has the key can impersonate this PGO to patients and peers. Group read
// is allowed (the ssl-cert group convention); a missing file is left to
// LoadX509KeyPair, which names it.
func checkKeyFileMode(file string) error {
	st, err := os.Stat(file)
	if err != nil {
		return nil
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		return fmt.Errorf("PGO_TLS_KEY: mode %04o lets every user read the private key; run `chmod 600 %s`", perm, file)
	}
	return nil
}

// loadCertPool reads a PEM bundle; it must hold at least one certificate.
func loadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// TLSConfig is the listener's TLS configuration: TLS 1.2 minimum (TLS 1.3 is
// negotiated whenever the client offers it), AEAD-only ECDHE suites for 1.2, and
// client certificates requested but not required (VerifyClientCertIfGiven), so that
// browsers are never asked for one while peer PGOs authenticate with mutual TLS
// (RFC 8705 §2). A presented certificate that does not chain to PGO_CLIENT_CA fails
// the handshake. Without PGO_CLIENT_CA no client certificate is requested and every
// peer route answers 401.
func (s *Server) TLSConfig() (*tls.Config, error) {
	if s.cert == nil {
		return nil, errors.New("PGO_TLS_CERT: not set; pgo serve only speaks HTTPS")
	}
	tc := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     tls12Suites,
		CurvePreferences: curves,
		Certificates:     []tls.Certificate{*s.cert},
		ClientAuth:       tls.NoClientCert,
	}
	if s.clientCAs != nil {
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		tc.ClientCAs = s.clientCAs
	}
	return tc, nil
}
