package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// serveTLS runs s.Serve on a loopback port with a certificate for localhost from
// ca and returns the base URL; the server stops when the test ends.
func serveTLS(t *testing.T, ca *testCA) string {
	t.Helper()
	base, _ := serveListeners(t, ca, false)
	return base
}

// serveListeners is serveTLS with, when ops is set, the operations listener on a
// second loopback port as well; it returns both base URLs.
func serveListeners(t *testing.T, ca *testCA, ops bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	s, _ := newTestServer(t, func(c *config.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, opsBase := Listeners{TLS: ln}, ""
	if ops {
		if l.Ops, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		opsBase = "http://" + l.Ops.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:"), opsBase
}

func h2Client(ca *testCA) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	dial := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial.DialContext(ctx, network, strings.Replace(addr, "localhost", "127.0.0.1", 1))
		}}}
}

// A path that is not a valid URI ("/%zz") gets our 400 page over HTTP/2, not a
// reset stream (issue 13); the connection stays usable, and ordinary requests
// (with a body, with a header block split over CONTINUATION frames) pass
// through the header rewriting unchanged.
func TestHTTP2InvalidPathGets400Page(t *testing.T) {
	ca := newTestCA(t, "h2 CA")
	base := serveTLS(t, ca)
	c := h2Client(ca)
	get := func(path, accept string, hdr ...string) (*http.Response, string) {
		t.Helper()
		u, _ := url.Parse(base)
		u.Opaque = path // sent as written: the Go client would refuse to parse it
		req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{"Accept": {accept}}, Host: u.Host}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, html.UnescapeString(string(b))
	}
	for i := 0; i < 3; i++ { // the same connection each time: HPACK tables stay in step
		resp, page := get("/%zz", "text/html", "Accept-Language", "nl")
		if resp.ProtoMajor != 2 || resp.StatusCode != 400 || !strings.Contains(page, web.T(web.NL, "error.reason.bad_path")) {
			t.Fatalf("GET /%%zz: %s %d\n%.300s", resp.Proto, resp.StatusCode, page)
		}
		if resp, body := get("/healthz", "application/json"); resp.StatusCode != 200 || !strings.Contains(body, `"up"`) {
			t.Fatalf("healthz after a bad path: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := get("/a%2/b", "application/json"); resp.StatusCode != 400 || !strings.Contains(body, `"code":"invalid"`) {
		t.Errorf("problem+json for a bad path: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/%41", "text/html"); resp.StatusCode != 404 {
		t.Errorf("a valid escape is an ordinary path: %d", resp.StatusCode)
	}
	big := strings.Repeat("b", 40000) // > 16 KiB: the client sends CONTINUATION frames
	if resp, body := get("/healthz", "application/json", "X-Big", big); resp.StatusCode != 200 || !strings.Contains(body, `"up"`) {
		t.Errorf("large header block: %d %s", resp.StatusCode, body)
	}
	resp, err := c.Post(base+"/healthz", "application/octet-stream", strings.NewReader(strings.Repeat("x", 900)))
	if err != nil || resp.StatusCode != 405 || resp.ProtoMajor != 2 {
		t.Errorf("POST with a body: %v %v", err, resp)
	}
}

// Chromium itself opens /%zz over HTTP/2 and shows our 400 page, which passes axe.
func TestUIInvalidPathPage(t *testing.T) {
	ca := newTestCA(t, "h2 CA")
	base := serveTLS(t, ca)
	u := &uiRun{t: t, base: base, ctx: uiBrowser(t), axe: browsertest.Axe(t), shots: os.Getenv("PGO_UI_SCREENSHOTS")}
	for _, l := range web.Langs {
		u.page("bad-path", "/%zz", http.StatusBadRequest, l)
		if got := u.eval(`document.querySelector("main").textContent`); !strings.Contains(got, web.T(l, "error.reason.bad_path")) {
			t.Errorf("%s: page lacks the reason:\n%s", l, got)
		}
	}
}

// An HPACK bomb: a header block of about 100 KB that adds one 4 KB field to
// the dynamic table and then names it again with one byte 100,000 times
// decodes to 400 MB of header list. The reader ends the connection at the
// server's limit instead of holding and re-encoding it (the server's own limit
// applies only to what the reader hands on); a block under the limit passes.
func TestH2PathConnRefusesHPACKBomb(t *testing.T) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: "/healthz"}, {Name: ":authority", Value: "localhost"}, {Name: "x-bomb", Value: strings.Repeat("a", 4000)}} {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	small := append([]byte(nil), block.Bytes()...)
	block.Write(bytes.Repeat([]byte{0x80 | 62}, 100000)) // indexed: the newest dynamic entry, x-bomb

	p := newH2PathConn(nil, 64<<10)
	p.block, p.stream = block.Bytes(), 1
	if err := p.rewrite(); !errors.Is(err, errHeaderListTooLarge) {
		t.Fatalf("a 400 MB header list: %v, want the connection ended", err)
	}
	if p.out.Len() != 0 || len(p.fields) > 64<<10/32 {
		t.Fatalf("%d bytes queued for the server, %d fields held; want none queued, at most the limit's worth held", p.out.Len(), len(p.fields))
	}
	q := newH2PathConn(nil, 64<<10)
	q.block, q.stream, q.flags = small, 1, flagEndStream
	if err := q.rewrite(); err != nil || q.out.Len() == 0 {
		t.Fatalf("an ordinary block: %v, %d bytes queued", err, q.out.Len())
	}
}
