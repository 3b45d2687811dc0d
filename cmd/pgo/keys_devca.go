package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var keysDevCaCmd = &command{
	name:    "dev-ca",
	summary: "DEVELOPMENT ONLY, never production: a local CA plus ECDSA P-256 server and client certificates per host.",
	usage:   "--out DIR --host NAME [--host NAME...]",
	run:     runDevCA,
}

// hostList collects repeated --host flags.
type hostList []string

func (h *hostList) String() string     { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

const devCAReadme = `Development certificates made by 'pgo keys dev-ca'. DEVELOPMENT ONLY: never use them in production.

ca.pem                 the development CA certificate: PGO_CLIENT_CA (trust anchor for peer client
                       certificates) and the CA that clients use to trust the server certificates
ca-key.pem             the CA private key (kept so that 'pgo keys dev-ca' can add hosts later; keep it private)
HOST.pem, HOST-key.pem the server certificate and key for HOST (SAN: HOST, 127.0.0.1, ::1):
                       PGO_TLS_CERT and PGO_TLS_KEY
HOST-client.pem, HOST-client-key.pem
                       the client certificate and key for HOST (SAN DNS: HOST, extended key usage
                       clientAuth): what HOST presents to peer PGOs (mutual TLS, client_id = HOST)
`

func runDevCA(_ context.Context, e *env, fs *flag.FlagSet, args []string) error {
	out := fs.String("out", "", "directory to write the PEM files to (created if missing)")
	var hosts hostList
	fs.Var(&hosts, "host", "host name to issue a server and a client certificate for (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError(fs, "--out is required")
	}
	if len(hosts) == 0 {
		return usageError(fs, "at least one --host is required")
	}
	if fs.NArg() != 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	for _, h := range hosts {
		if err := checkHostName(h); err != nil {
			return usageError(fs, "--host %q: %v", h, err)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	ca, err := loadOrMakeCA(*out)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if err := ca.issueHost(*out, h); err != nil {
			return fmt.Errorf("host %s: %w", h, err)
		}
	}
	if err := os.WriteFile(filepath.Join(*out, "README"), []byte(devCAReadme), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "development CA and certificates for %s written to %s (see %s)\n",
		strings.Join(hosts, ", "), *out, filepath.Join(*out, "README"))
	return nil
}

// checkHostName accepts a DNS name (letters, digits, hyphens, dots; labels of 1..63
// characters, at most 253 in all) or an IP address.
func checkHostName(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) == 0 || len(h) > 253 {
		return errors.New("want a DNS name of 1 to 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("label %q: want 1 to 63 characters, not starting or ending with '-'", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("label %q: character %q is not allowed in a host name", label, r)
			}
		}
	}
	return nil
}

type devCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// loadOrMakeCA reuses ca.pem + ca-key.pem in dir when both exist (so hosts can be
// added later and stay trusted by earlier peers), makes a new CA when neither does,
// and refuses anything else: replacing a ca.pem whose key went missing would quietly
// cut off every peer that trusts it, and a read error is not "absent".
func loadOrMakeCA(dir string) (*devCA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	cb, errC := os.ReadFile(certFile)
	kb, errK := os.ReadFile(keyFile)
	switch {
	case errC == nil && errK == nil:
		return parseCA(cb, kb)
	case errC != nil && !errors.Is(errC, os.ErrNotExist):
		return nil, errC
	case errK != nil && !errors.Is(errK, os.ErrNotExist):
		return nil, errK
	case errC == nil:
		return nil, fmt.Errorf("%s exists but %s does not: restore the key, or remove ca.pem to make a new CA (peers trusting the old one must then be given the new ca.pem)", certFile, keyFile)
	case errK == nil:
		return nil, fmt.Errorf("%s exists but %s does not: restore the certificate, or remove ca-key.pem to make a new CA", keyFile, certFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "pgo development CA (not for production)", Organization: []string{"pgo development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writeKeyPair(certFile, keyFile, der, key); err != nil {
		return nil, err
	}
	return &devCA{cert: cert, key: key}, nil
}

func parseCA(certPEM, keyPEM []byte) (*devCA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("ca.pem or ca-key.pem is not PEM; remove both to make a new CA")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca.pem: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca-key.pem: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("ca-key.pem does not belong to ca.pem")
	}
	return &devCA{cert: cert, key: key}, nil
}

// issueHost writes HOST.pem/HOST-key.pem (server) and HOST-client.pem/
// HOST-client-key.pem (client) for host.
func (ca *devCA) issueHost(dir, host string) error {
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: host, Organization: []string{"pgo development"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	client := &x509.Certificate{
		Subject:     pkix.Name{CommonName: host, Organization: []string{"pgo development"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		server.IPAddresses = append(server.IPAddresses, ip)
		client.IPAddresses = []net.IP{ip}
	} else {
		server.DNSNames = []string{host}
		client.DNSNames = []string{host}
	}
	if err := ca.issue(server, filepath.Join(dir, host+".pem"), filepath.Join(dir, host+"-key.pem")); err != nil {
		return err
	}
	return ca.issue(client, filepath.Join(dir, host+"-client.pem"), filepath.Join(dir, host+"-client-key.pem"))
}

func (ca *devCA) issue(tmpl *x509.Certificate, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl.SerialNumber = randomSerial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	tmpl.AuthorityKeyId = ca.cert.SubjectKeyId
	tmpl.SubjectKeyId = keyID(&key.PublicKey)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	return writeKeyPair(certFile, keyFile, der, key)
}

// writeKeyPair writes the certificate (0644) and the PKCS#8 key (0600).
func writeKeyPair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileMode(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFileMode(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileMode writes via a fresh temporary file (O_EXCL with a random name, so
// nothing planted in the directory is written through) and rename, and sets mode
// before the content goes in, even when the file existed with a wider one.
func writeFileMode(name string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// keyID is a subject key identifier: SHA-256 of the public key, truncated to 160
// bits (RFC 7093 §2 method 1).
func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}
