package zal

import (
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// loopbackTLS starts one TLS server that answers for every name in hosts and
// returns it with a client TLS config trusting it.
func loopbackTLS(t *testing.T, h http.Handler, hosts ...string) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cfg := serveLoopback(t, srv, hosts...)
	return srv, cfg
}

// serveLoopback starts srv with TLS for hosts and returns a client TLS config
// trusting it.
func serveLoopback(t *testing.T, srv *httptest.Server, hosts ...string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// dialRecorder resolves every *.localhost name to the test server on 127.0.0.1
// and records which hosts were dialled.
type dialRecorder struct {
	port  string
	mu    sync.Mutex
	hosts []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	d.mu.Lock()
	d.hosts = append(d.hosts, host)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+d.port)
}

func (d *dialRecorder) dialled() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.hosts, ",")
}

func TestWhitelistClient(t *testing.T) {
	var hits sync.Map // Host header -> count
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.Host, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		io.WriteString(w, "hello from "+r.Host)
	})
	mux.HandleFunc("/to/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+strings.TrimPrefix(r.URL.Path, "/to/")+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/ok", http.StatusFound)
	})
	srv, tlsCfg := loopbackTLS(t, mux, "zuid.localhost", "noord.localhost", "evil.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wl := mustParse[*Whitelist](t, rep(fixture(t, "whitelist.xml"), "noord.example.nl", "noord.localhost"))
	d := &dialRecorder{port: port}
	c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: d.dial, Timeout: 5 * time.Second})
	at := func(host, path string) string { return "https://" + host + ":" + port + path }

	cases := []struct {
		name, url, want, body string
	}{
		{"listed host", at("zuid.localhost", "/ok"), "", "hello from zuid.localhost:" + port},
		// No redirect is followed, not even to a listed host (see NewHTTPClient).
		{"redirect to listed host", at("zuid.localhost", "/to/noord.localhost:"+port), "the peer answered 302, a redirect to https://noord.localhost:" + port + ", which was not followed (requests between MedMij nodes are not redirected)", ""},
		{"host not listed", at("evil.localhost", "/ok"), `host "evil.localhost" is not on the MedMij Whitelist; not connecting`, ""},
		{"redirect to host not listed", at("zuid.localhost", "/to/evil.localhost:"+port), "the peer answered 302, a redirect to https://evil.localhost:" + port + ", which was not followed (requests between MedMij nodes are not redirected)", ""},
		{"IP literal", "https://127.0.0.1:" + port + "/ok", `host "127.0.0.1" is not on the MedMij Whitelist; not connecting`, ""},
		{"plain http", "http://zuid.localhost:" + port + "/ok", `scheme "http" refused: MedMij nodes are reached over https only`, ""},
		{"redirect to plain http", at("zuid.localhost", "/plain"), "the peer answered 302, a redirect to http://zuid.localhost:" + port + ", which was not followed (requests between MedMij nodes are not redirected)", ""},
	}
	for _, tc := range cases {
		resp, err := c.Get(tc.url)
		if tc.want != "" {
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: no error", tc.name)
				continue
			}
			if pgo.ErrorCode(err) != pgo.EFORBIDDEN || pgo.ErrorMessage(err) != tc.want {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.body {
			t.Errorf("%s: body %q", tc.name, b)
		}
	}
	if strings.Contains(d.dialled(), "evil") || strings.Contains(d.dialled(), "127.0.0.1") {
		t.Errorf("refused hosts were dialled: %s", d.dialled())
	}
	if _, ok := hits.Load("evil.localhost:" + port); ok {
		t.Error("the server saw a request for evil.localhost")
	}
	if _, ok := hits.Load("noord.localhost:" + port); ok {
		t.Error("a redirect to noord.localhost was followed")
	}
}

// flipChecker allows the first n questions and refuses after: the round-trip
// check passes, so the dialer's own check must stop the connection.
type flipChecker struct{ left atomic.Int64 }

func (f *flipChecker) Whitelisted(string) bool { return f.left.Add(-1) >= 0 }

func TestWhitelistClientDialerChecksToo(t *testing.T) {
	srv, tlsCfg := loopbackTLS(t, http.NotFoundHandler(), "zuid.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	d := &dialRecorder{port: port}
	f := &flipChecker{}
	f.left.Store(1)
	c := NewHTTPClient(f, ClientOptions{TLSConfig: tlsCfg, DialContext: d.dial})
	_, err := c.Get("https://zuid.localhost:" + port + "/")
	if pgo.ErrorMessage(err) != `host "zuid.localhost" is not on the MedMij Whitelist; not connecting` || d.dialled() != "" {
		t.Fatalf("dialer check: %v (dialled %q)", err, d.dialled())
	}
}

// A 307 keeps the method and the body: followed, the POST to a token endpoint
// would hand the code and the PKCE verifier to another node, even one on the
// Whitelist. The client follows no redirect; the second host sees nothing.
func TestPeerClientFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int64
	srv, tlsCfg := loopbackTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "noord.localhost") {
			elsewhere.Add(1)
			return
		}
		http.Redirect(w, r, "https://noord.localhost:"+strings.Split(r.Host, ":")[1]+"/oauth/token", http.StatusTemporaryRedirect)
	}), "zuid.localhost", "noord.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wl := mustParse[*Whitelist](t, rep(fixture(t, "whitelist.xml"), "noord.example.nl", "noord.localhost"))
	c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: (&dialRecorder{port: port}).dial})
	resp, err := c.Post("https://zuid.localhost:"+port+"/oauth/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=authorization_code&code=c&code_verifier=v"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a 307 was followed")
	}
	want := "the peer answered 307, a redirect to https://noord.localhost:" + port + ", which was not followed (requests between MedMij nodes are not redirected)"
	if !errors.Is(err, ErrRedirect) || pgo.ErrorMessage(err) != want {
		t.Fatalf("307: %v", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("noord.localhost received %d requests", n)
	}
}

// The client asks for no content coding, so a source that compresses when asked
// sends the bytes its Content-Digest describes; one that compresses anyway is
// not undone behind the caller's back (Content-Encoding stays for it to refuse).
func TestPeerClientAsksNoContentCoding(t *testing.T) {
	const doc = "%PDF-1.7 the document, as the source digests it"
	var asked atomic.Value
	srv, tlsCfg := loopbackTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.Header.Get("Accept-Encoding"))
		if r.URL.Path != "/always" && !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, doc)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		io.WriteString(gz, doc)
		gz.Close()
	}), "zuid.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wl := mustParse[*Whitelist](t, fixture(t, "whitelist.xml"))
	c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: (&dialRecorder{port: port}).dial})
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := c.Get("https://zuid.localhost:" + port + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, b := get("/")
	if a := asked.Load().(string); a != "" || string(b) != doc || resp.Uncompressed {
		t.Fatalf("Accept-Encoding %q sent; body %q (uncompressed by the client: %v)", a, b, resp.Uncompressed)
	}
	resp, b = get("/always")
	if resp.Uncompressed || resp.Header.Get("Content-Encoding") != "gzip" || string(b) == doc {
		t.Fatalf("a gzipped body was decoded behind the caller's back (Content-Encoding %q, body %q)", resp.Header.Get("Content-Encoding"), b)
	}
}

// A peer cannot make the client hold megabytes of response headers (Go's
// default would take 10 MiB per response): over HTTP/2 and HTTP/1.1 alike.
func TestPeerClientBoundsResponseHeaders(t *testing.T) {
	wl := mustParse[*Whitelist](t, fixture(t, "whitelist.xml"))
	for _, h2 := range []bool{true, false} {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := 8 // 8 x 4 KiB: well within the bound
			if r.URL.Path == "/huge" {
				n = 256 // 1 MiB
			}
			for i := range n {
				w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("a", 4<<10))
			}
			io.WriteString(w, "ok")
		}))
		srv.EnableHTTP2 = h2
		tlsCfg := serveLoopback(t, srv, "zuid.localhost")
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: (&dialRecorder{port: port}).dial})
		resp, err := c.Get("https://zuid.localhost:" + port + "/small")
		if err != nil {
			t.Fatalf("h2 %v: 32 KiB of headers refused: %v", h2, err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Fatalf("h2 %v: the test server spoke %s", h2, resp.Proto)
		}
		if resp, err := c.Get("https://zuid.localhost:" + port + "/huge"); err == nil {
			resp.Body.Close()
			t.Errorf("%s: 1 MiB of response headers accepted", resp.Proto)
		}
	}
}

func TestDialLocalhostAndWhitelistEndToEnd(t *testing.T) {
	srv, tlsCfg := loopbackTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), "zuid.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wl := mustParse[*Whitelist](t, fixture(t, "whitelist.xml"))
	c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: DialLocalhost})
	resp, err := c.Get("https://zuid.localhost:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	// A name outside .localhost is dialled as usual: here it does not resolve.
	if _, err := DialLocalhost(context.Background(), "tcp", "zuid.invalid:"+port); err == nil {
		t.Fatal("zuid.invalid was dialled on loopback")
	}
}

// countingListener counts the writes on the connections it accepts: one per TLS
// record, since crypto/tls writes each record on its own.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// TestPeerClientTakesLargeFrames shows what MaxReadFrameSize saves the source: a
// 1 MiB body written in 256 KiB pieces (as the Binary endpoint writes a
// document) reaches the target's client in 256 KiB DATA frames of 17 TLS records
// each. At the default 16 KiB frames it took 128 records (a full one and a
// 9-byte one per frame).
func TestPeerClientTakesLargeFrames(t *testing.T) {
	const size, piece = 1 << 20, 256 << 10
	body := make([]byte, size)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for off := 0; off < size; off += piece {
			if _, err := w.Write(body[off : off+piece]); err != nil {
				return
			}
		}
	}))
	srv.EnableHTTP2 = true
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	tlsCfg := serveLoopback(t, srv, "zuid.localhost")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wl := mustParse[*Whitelist](t, fixture(t, "whitelist.xml"))
	c := NewHTTPClient(wl, ClientOptions{TLSConfig: tlsCfg, DialContext: (&dialRecorder{port: port}).dial})
	get := func() (int64, *http.Response) {
		resp, err := c.Get("https://zuid.localhost:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return n, resp
	}
	get() // the handshake and the settings exchange are not counted
	before := cl.writes.Load()
	n, resp := get()
	writes := cl.writes.Load() - before
	if resp.ProtoMajor != 2 || n != size {
		t.Fatalf("HTTP/%d, %d bytes; want HTTP/2 and %d", resp.ProtoMajor, n, size)
	}
	// 4 frames of 17 records, the response headers and a few control frames.
	if writes > 4*17+8 {
		t.Fatalf("the source wrote %d TLS records for 1 MiB; want at most %d (256 KiB frames)", writes, 4*17+8)
	}
	t.Logf("1 MiB in %d TLS records", writes)
}
