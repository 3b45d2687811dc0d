package zal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// HostChecker answers whether a host is on the Whitelist; *Registry and
// *Whitelist implement it.
type HostChecker interface{ Whitelisted(host string) bool }

// Whitelisted makes a *Whitelist a HostChecker.
func (w *Whitelist) Whitelisted(host string) bool { return w.Contains(host) }

// MaxReadFrameSize is the largest HTTP/2 frame the target's client accepts
// (SETTINGS_MAX_FRAME_SIZE, RFC 9113 §6.5.2). A TLS record holds at most 16 KiB
// (RFC 8446 §5.1), so at the default frame size of 16 KiB each DATA frame and its
// 9-byte header take two records: a full one and one of 9 bytes, each a write
// call and a seal on the source and a read and an open here. The source writes a
// document in 256 KiB pieces; frames of that size need 17 records, not 32.
const MaxReadFrameSize = 256 << 10

// ClientOptions configure NewHTTPClient.
type ClientOptions struct {
	// TLSConfig for outbound connections (client certificate for mTLS, roots).
	// Nil means TLS 1.2+ with the system roots.
	TLSConfig *tls.Config
	// DialContext replaces the dialer (tests resolve *.localhost to 127.0.0.1).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout     time.Duration // whole request; default 30s
}

// ErrRedirect is in the chain of the error a peer request returns when the peer
// answered with a redirect (errors.Is): the client does not follow it.
var ErrRedirect = errors.New("zal: a MedMij peer answered with a redirect")

// NewHTTPClient returns the client the target role uses towards other MedMij
// nodes. It refuses any host that is not on the Whitelist before a connection is
// made (MedMij afsprakenstelsel: nodes only connect to whitelisted nodes): in the
// round trip and in the dialer. Only https is allowed, and proxies are not used
// (a proxy would hide the real destination from the dialer).
//
// It follows no redirect: MedMij's token and FHIR interfaces do not redirect, and
// following one would re-send a 307/308 POST body (the code and the PKCE
// verifier) and, for a subdomain, the bearer token to wherever the peer points,
// even another node on the Whitelist. A 3xx ends the request with an error that
// wraps ErrRedirect.
//
// It asks for no content coding (DisableCompression): sizes, hashes and
// Content-Digest (RFC 9530) are checked on the bytes as sent, and Go's
// transparent gunzip would hand over other bytes than those that were digested.
// MaxResponseHeaderBytes bounds the headers of a peer's response (HTTP/1.1 and,
// as the header list size, HTTP/2): far above what a FHIR, OAuth or list server
// sends (a Content-Digest, an ETag, a few dozen others), far below Go's 10 MiB.
const MaxResponseHeaderBytes = 64 << 10

func NewHTTPClient(wl HostChecker, opts ClientOptions) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	tlsCfg := opts.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dial := opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		HTTP2:               &http.HTTP2Config{MaxReadFrameSize: MaxReadFrameSize},
		MaxIdleConns:        100,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true, // no Accept-Encoding: gzip, no transparent gunzip (see above)
		// A peer's response headers are few and short; Go's default lets each
		// response hold 10 MiB of them, per request of every fetch running at once.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			if err := allowed(wl, "https", host); err != nil {
				return nil, err
			}
			return dial(ctx, network, addr)
		},
	}
	return &http.Client{
		Timeout:   opts.Timeout,
		Transport: guard{wl: wl, next: tr},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			status := 0
			if req.Response != nil {
				status = req.Response.StatusCode
			}
			return pgo.Wrap(pgo.EFORBIDDEN, ErrRedirect, fmt.Sprintf(
				"the peer answered %d, a redirect to %s://%s, which was not followed (requests between MedMij nodes are not redirected)",
				status, req.URL.Scheme, req.URL.Host))
		},
	}
}

// guard checks every request before the transport sees it.
type guard struct {
	wl   HostChecker
	next http.RoundTripper
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := allowed(g.wl, req.URL.Scheme, req.URL.Hostname()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

func allowed(wl HostChecker, scheme, host string) error {
	if scheme != "https" {
		return pgo.Errorf(pgo.EFORBIDDEN, "scheme %q refused: MedMij nodes are reached over https only", scheme)
	}
	if !wl.Whitelisted(host) {
		return pgo.Errorf(pgo.EFORBIDDEN, "host %q is not on the MedMij Whitelist; not connecting", host)
	}
	return nil
}

// DialLocalhost dials names under ".localhost" on the loopback address (RFC 6761
// §6.3 lets applications resolve them so themselves) and everything else as usual.
// The demo and tests pass it as ClientOptions.DialContext, so that instances named
// noord.localhost and zuid.localhost work without /etc/hosts entries.
func DialLocalhost(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost")) {
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	return d.DialContext(ctx, network, addr)
}
