package reqctx

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
)

// Peer is the identity of a PGO that called us with a client certificate verified
// against the configured client CA (mutual TLS, RFC 8705 §2). MedMij uses the
// client's host name as client_id, so Name is what client authentication compares.
type Peer struct {
	// Name is the first DNS subjectAltName, or the subject CommonName when the
	// certificate has no DNS names.
	Name string
	// DNSNames are all DNS subjectAltNames of the certificate.
	DNSNames []string
	// Thumbprint is the base64url SHA-256 of the certificate's DER encoding, the
	// "x5t#S256" confirmation value that binds a token to it (RFC 8705 §3.1).
	Thumbprint string
	// Cert is the verified leaf certificate.
	Cert *x509.Certificate
}

// NewPeer describes a verified leaf certificate.
func NewPeer(cert *x509.Certificate) Peer {
	sum := sha256.Sum256(cert.Raw)
	p := Peer{
		DNSNames:   append([]string(nil), cert.DNSNames...),
		Thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]),
		Cert:       cert,
	}
	if len(p.DNSNames) > 0 {
		p.Name = p.DNSNames[0]
	} else {
		p.Name = cert.Subject.CommonName
	}
	return p
}

// HasName reports whether the certificate names host (DNS SAN, or the CommonName
// when there are no DNS SANs).
func (p Peer) HasName(host string) bool {
	if len(p.DNSNames) == 0 {
		return host != "" && p.Name == host
	}
	for _, n := range p.DNSNames {
		if n == host {
			return true
		}
	}
	return false
}

type peerKey struct{}

// WithPeer returns ctx carrying the verified peer.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFromContext returns the verified peer of the request, if any. Only routes in
// the server's peer group are guaranteed to have one.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}
