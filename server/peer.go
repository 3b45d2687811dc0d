package server

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// requirePeer guards the peer routes (token endpoint, FHIR API): the caller must be
// a PGO with a client certificate that chains to PGO_CLIENT_CA (mutual TLS, RFC
// 8705 §2; MedMij: PKIoverheid Private in production). The verified identity goes
// into the request context (reqctx.PeerFromContext) for client authentication.
//
// On the HTTPS listener the TLS stack has verified the certificate already. On the
// plain-HTTP listener (behind a TLS-terminating proxy) the certificate comes from
// the header named by PGO_PROXY_CLIENT_CERT_HEADER and is verified here against the
// same CA, and only when the TCP peer is a proxy address (trustedProxy); without
// that setting peer routes are refused there.
func (s *Server) requirePeer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		peer, err := s.verifiedPeer(r)
		if err != nil {
			return err
		}
		c.SetRequest(r.WithContext(reqctx.WithPeer(r.Context(), peer)))
		return next(c)
	}
}

func (s *Server) verifiedPeer(r *http.Request) (reqctx.Peer, error) {
	if s.clientCAs == nil {
		return reqctx.Peer{}, pgo.Errorf(pgo.EUNAUTHORIZED,
			"This endpoint requires mutual TLS, but this server has no client CA configured (PGO_CLIENT_CA).")
	}
	if r.TLS != nil {
		if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return reqctx.Peer{}, pgo.Errorf(pgo.EUNAUTHORIZED,
				"This endpoint requires a client certificate (mutual TLS); none was presented.")
		}
		return reqctx.NewPeer(r.TLS.VerifiedChains[0][0]), nil
	}
	if s.cfg.ProxyClientCertHeader == "" {
		return reqctx.Peer{}, pgo.Errorf(pgo.EUNAUTHORIZED,
			"This endpoint requires mutual TLS; it is not available over plain HTTP.")
	}
	if !s.trustedProxy(r.RemoteAddr) {
		return reqctx.Peer{}, pgo.Errorf(pgo.EUNAUTHORIZED,
			"This endpoint accepts a client certificate over plain HTTP only from a trusted proxy address.")
	}
	v := r.Header.Get(s.cfg.ProxyClientCertHeader)
	if v == "" {
		return reqctx.Peer{}, pgo.Errorf(pgo.EUNAUTHORIZED,
			"This endpoint requires a client certificate (mutual TLS); the proxy passed none.")
	}
	cert, err := s.verifyProxyCert(v, time.Now())
	if err != nil {
		return reqctx.Peer{}, pgo.Wrap(pgo.EUNAUTHORIZED, err,
			"The client certificate passed by the proxy is not valid for this endpoint.")
	}
	return reqctx.NewPeer(cert), nil
}

// trustedProxy reports whether the TCP peer of a plain-HTTP request is one of
// the TLS-terminating proxies listed in PGO_TRUSTED_PROXIES (none by default).
// The certificate in the header is public (every TLS handshake shows it), so from
// anyone else the header proves nothing and would let them pass as that peer; the
// same holds for X-Forwarded-For (remoteIP), which also feeds the per-IP login
// throttle and the audit log. Being on a private or loopback network is no
// reason to be believed: a neighbour there is not the proxy.
func (s *Server) trustedProxy(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// verifyProxyCert parses a URL-encoded PEM chain (leaf first, as nginx's
// $ssl_client_escaped_cert) and verifies it for client authentication against the
// client CA at now. Percent-encoding (spaces as %20) and form encoding (spaces as
// "+", "+" as %2B) are both accepted: PEM's "BEGIN CERTIFICATE" line tells them
// apart, since base64 may contain "+" but never a space.
func (s *Server) verifyProxyCert(header string, now time.Time) (*x509.Certificate, error) {
	unescape := url.PathUnescape
	if strings.Contains(header, "BEGIN+CERTIFICATE") {
		unescape = url.QueryUnescape
	}
	raw, err := unescape(header)
	if err != nil {
		return nil, fmt.Errorf("client certificate header: not URL-encoded: %w", err)
	}
	var certs []*x509.Certificate
	rest := []byte(raw)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client certificate header: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("client certificate header: no PEM certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots:         s.clientCAs,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate header: %w", err)
	}
	return certs[0], nil
}

// peerPing is the mutual-TLS self-check (GET /peer/ping): it answers which client
// the server sees, so an operator of a peer PGO can test their certificate and our
// trust anchors before the first transfer.
func (s *Server) peerPing(c echo.Context) error {
	p, _ := reqctx.PeerFromContext(c.Request().Context())
	return c.JSON(http.StatusOK, map[string]any{
		"client":     p.Name,
		"dns_names":  p.DNSNames,
		"thumbprint": p.Thumbprint,
		"issuer":     p.Cert.Issuer.String(),
		"not_after":  p.Cert.NotAfter.UTC().Format(time.RFC3339),
	})
}
