package transfer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ClientTLS is the TLS configuration towards source PGOs: TLS 1.2 at least (1.3
// offered), TLS 1.2 suites from the NCSC guidelines' "goed" list (ECDHE with AES-GCM
// or ChaCha20-Poly1305), our client certificate for mutual TLS (RFC 8705 §2.1), and
// the trust anchors in rootFiles (PEM) on top of the system roots.
func ClientTLS(certFile, keyFile string, rootFiles ...string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("PGO_CLIENT_CERT/PGO_CLIENT_KEY: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range rootFiles {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust anchors: %v", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("trust anchors: %s holds no PEM certificate", f)
		}
	}
	cfg.RootCAs = pool
	return cfg, nil
}
