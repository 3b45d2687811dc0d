package server

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/internal/cputime"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// BenchmarkFHIRBinary downloads a stored document of 77 kB (the standard dossier's
// PDF), 1, 5 and 20 MB through the real
// FHIR endpoint over mutual TLS on loopback (token check, audit, PostgreSQL slices,
// streaming decryption, the PDF representation), beside raw TLS on loopback in the
// same run (the same bytes from memory over one kept-alive TLS connection), and reports MB/s of
// both and the peak heap growth during the downloads (flat whatever the size: the
// document is never held whole).
//
//	go test -run '^$' -bench FHIRBinary -benchtime 5x ./server/
func BenchmarkFHIRBinary(b *testing.B) {
	for _, size := range []int{77300, 1 << 20, 5 << 20, 20 << 20} {
		name := fmt.Sprintf("%dMB", size>>20)
		if size < 1<<20 {
			name = fmt.Sprintf("%dkB", size/1000)
		}
		b.Run("endpoint-"+name, func(b *testing.B) { benchEndpoint(b, size) })
		b.Run("raw-tls-"+name, func(b *testing.B) { benchRawTLS(b, size) })
	}
}

func benchEndpoint(b *testing.B, size int) {
	f := newFHIRFixture(b, time.Second)
	doc := make([]byte, size)
	_, _ = rand.Read(doc)
	copy(doc, "%PDF-1.7\n")
	job := f.stored(b, doc)
	doc = nil
	ts := f.tlsServer(b)
	defer ts.Close()
	clientCert := f.ca.leaf(b, "zuid.localhost", x509.ExtKeyUsageClientAuth)
	tok := f.grantTo(job, peerThumb(clientCert))
	client := f.tlsClient(clientCert)
	get := func() int64 {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/51/fhir/Binary/"+job.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != 200 || n != int64(size) {
			b.Fatalf("%d, %d bytes, %v", resp.StatusCode, n, err)
		}
		return n
	}
	get() // warm up: connection, pool, caches
	measure(b, size, get)
}

func benchRawTLS(b *testing.B, size int) {
	ca := newFHIRCA(b)
	srvCert, clientCert := ca.leaf(b, "noord.localhost", x509.ExtKeyUsageServerAuth), ca.leaf(b, "zuid.localhost", x509.ExtKeyUsageClientAuth)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	doc := make([]byte, size)
	_, _ = rand.Read(doc)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				one := make([]byte, 1)
				for {
					if _, err := io.ReadFull(c, one); err != nil {
						return
					}
					if _, err := c.Write(doc); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	// one kept-alive connection, as the endpoint's client keeps its connection
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientCert}, ServerName: "noord.localhost"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 32<<10)
	get := func() int64 {
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(size)), buf)
		if err != nil || n != int64(size) {
			b.Fatalf("%d bytes, %v", n, err)
		}
		return n
	}
	get()
	measure(b, size, get)
}

// measure runs get b.N times and reports MB/s, the CPU time per download of this
// process (client and server; PostgreSQL's is not in it) and the peak heap growth
// over the heap in use before the first download.
func measure(b *testing.B, size int, get func() int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Process()
	for i := 0; i < b.N; i++ {
		get()
	}
	elapsed, cpu := time.Since(start), cputime.Process()-cpu0
	b.StopTimer()
	close(stop)
	wg.Wait()
	growth := int64(peak.Load()) - int64(base)
	b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/(1<<20), "MB/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(max(growth, 0))/(1<<20), "peak-heap-MB")
}

func peerThumb(c tls.Certificate) string {
	return newPeerThumb(c.Leaf)
}

// tlsServer serves the fixture's endpoint over HTTPS with mutual TLS on loopback,
// HTTP/2 as pgo serve speaks it (serveH2) and HTTP/1.1.
func (f *fhirFixture) tlsServer(tb testing.TB) *httptest.Server {
	ts := httptest.NewUnstartedServer(f.srv.Handler())
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{f.ca.leaf(tb, "noord.localhost", x509.ExtKeyUsageServerAuth)},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: f.ca.pool, NextProtos: []string{"h2", "http/1.1"}}
	if err := serveH2(ts.Config); err != nil {
		tb.Fatal(err)
	}
	ts.StartTLS()
	return ts
}

// tlsClient presents cert to the fixture's TLS server over HTTP/2, taking frames
// as large as the target's client does (zal.NewHTTPClient).
func (f *fhirFixture) tlsClient(cert tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.ca.pool, Certificates: []tls.Certificate{cert}, ServerName: "noord.localhost"},
		ForceAttemptHTTP2: true, HTTP2: &http.HTTP2Config{MaxReadFrameSize: zal.MaxReadFrameSize}}}
}

// grantTo issues a token for job bound to the certificate with thumbprint thumb.
func (f *fhirFixture) grantTo(job export.Job, thumb string) string {
	tok := f.grant(job)
	e := f.access.tokens[tok]
	e.thumb = thumb
	f.access.put(tok, e)
	return tok
}
