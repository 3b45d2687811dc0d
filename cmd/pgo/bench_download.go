package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

var benchDownloadCmd = &command{
	name:    "download",
	summary: "Binary download MB/s and latency per document size (token check, audit, streaming decryption, mutual TLS) beside raw TLS loopback in this process.",
	usage:   "[--count M] [--sizes standard,large,20MB] [--json] [--noord URL --zuid URL --dir DIR]",
	run:     runBenchDownload,
}

// downloadReport is what `pgo bench download` prints: one entry per document.
type downloadReport struct {
	Downloads int         `json:"downloads"`
	Failures  int         `json:"failures"`
	Documents []docReport `json:"documents"`
	RSSPeakMB float64     `json:"serve_peak_rss_mb"`
}

// docReport is the figures of one document size. Heap and RSS are the serving
// process's (Noord serve, from its /metrics): before the timed downloads, the
// highest sample during them, after them.
type docReport struct {
	Name         string  `json:"name"`
	Bytes        int64   `json:"bytes"`
	Downloads    int     `json:"downloads"`
	Failures     int     `json:"failures"`
	MBps         float64 `json:"mb_per_s"`
	P50MS        float64 `json:"p50_ms"`
	P95MS        float64 `json:"p95_ms"`
	RawMBps      float64 `json:"raw_tls_mb_per_s"`
	RawP50MS     float64 `json:"raw_tls_p50_ms"`
	Pct          float64 `json:"pct_of_raw"`
	FixedMS      float64 `json:"fixed_ms"` // p50 minus the raw TLS p50 of the same bytes
	HeapBeforeMB float64 `json:"serve_heap_before_mb"`
	HeapPeakMB   float64 `json:"serve_heap_peak_mb"`
	HeapAfterMB  float64 `json:"serve_heap_after_mb"`
	RSSBeforeMB  float64 `json:"serve_rss_before_mb"`
	RSSAfterMB   float64 `json:"serve_rss_after_mb"`
}

func runBenchDownload(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	sizes := fs.String("sizes", "standard,large,20MB", "the documents, in order: standard and large (the rendered PDF of that dossier), NMB (a generated PDF of N MiB sealed into the store as the render task stores one)")
	r, o, err := openBench(ctx, e, fs, args, 20, 1, true)
	if err != nil {
		return err
	}
	defer r.Close()
	specs, err := parseDocSpecs(fs, *sizes)
	if err != nil {
		return err
	}
	c, err := r.peer(1)
	if err != nil {
		return err
	}
	rep := downloadReport{}
	for _, spec := range specs {
		fmt.Fprintf(e.stderr, "[pgo bench] download: preparing the %s document\n", spec.name)
		d, err := r.prepareDoc(ctx, c, spec)
		if err != nil {
			return fmt.Errorf("%s document: %w", spec.name, err)
		}
		dr, err := r.measureDoc(ctx, c, d, o.count)
		if err != nil {
			return err
		}
		rep.Downloads += dr.Downloads
		rep.Failures += dr.Failures
		rep.Documents = append(rep.Documents, dr)
	}
	_, rep.RSSPeakMB = r.serveRSS()
	rep.RSSPeakMB = round1(rep.RSSPeakMB)
	printDownloadReport(e, o, rep)
	if rep.Failures > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("pgo bench download: %d downloads failed", rep.Failures)}
	}
	return nil
}

// measureDoc times count downloads of d on one kept-alive connection, then the
// same bytes over raw TLS, sampling the serving process's heap throughout.
func (r *benchRig) measureDoc(ctx context.Context, c *http.Client, d benchDoc, count int) (docReport, error) {
	dr := docReport{Name: d.name, Bytes: d.size, Downloads: count}
	mem := r.serveMemory()
	before := mem.sample()
	stop := mem.watch()
	var lat []float64
	dr.MBps, dr.Failures, lat = timed(count, d.size, func() (int64, error) { return d.get(ctx, r, c) })
	peak := stop()
	after := mem.sample()
	dr.P50MS, dr.P95MS = pct(lat, 50), pct(lat, 95)
	dr.HeapBeforeMB, dr.HeapPeakMB, dr.HeapAfterMB = round1(before.heapMB), round1(max(peak, after.heapMB)), round1(after.heapMB)
	dr.RSSBeforeMB, dr.RSSAfterMB = round1(before.rssMB), round1(after.rssMB)
	raw, err := r.rawTLS(d.size)
	if err != nil {
		return dr, err
	}
	defer raw.close()
	if _, err := raw.get(); err != nil {
		return dr, err
	}
	var rawLat []float64
	dr.RawMBps, _, rawLat = timed(count, d.size, raw.get)
	dr.RawP50MS = pct(rawLat, 50)
	dr.MBps, dr.RawMBps = round1(dr.MBps), round1(dr.RawMBps)
	dr.Pct = round1(100 * dr.MBps / dr.RawMBps)
	dr.FixedMS = round1(dr.P50MS - dr.RawP50MS)
	return dr, nil
}

func printDownloadReport(e *env, o benchOptions, rep downloadReport) {
	if o.json {
		j, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(j))
		return
	}
	fmt.Fprintf(e.stdout, "pgo bench download: %d downloads per document, one kept-alive mTLS connection, %d failures\n", o.count, rep.Failures)
	fmt.Fprintln(e.stdout, "FHIR Binary = token check, audit record, PostgreSQL slices, streaming decryption; raw = the same bytes from memory over TLS 1.3 with mTLS, this process")
	fmt.Fprintf(e.stdout, "%-9s %11s %9s %9s %9s %10s %9s %7s %8s   %s\n", "document", "bytes", "MB/s", "p50 ms", "p95 ms", "raw MB/s", "raw p50", "share", "fixed ms", "Noord serve heap before/peak/after, RSS before/after (MB)")
	for _, d := range rep.Documents {
		fmt.Fprintf(e.stdout, "%-9s %11d %9.1f %9.1f %9.1f %10.1f %9.1f %6.1f%% %8.1f   %.1f / %.1f / %.1f, %.1f / %.1f\n",
			d.Name, d.Bytes, d.MBps, d.P50MS, d.P95MS, d.RawMBps, d.RawP50MS, d.Pct, d.FixedMS,
			d.HeapBeforeMB, d.HeapPeakMB, d.HeapAfterMB, d.RSSBeforeMB, d.RSSAfterMB)
	}
	fmt.Fprintf(e.stdout, "Noord serve peak RSS %.1f MB\n", rep.RSSPeakMB)
}

// timed runs get n times one after another and returns MB/s (2^20), failures
// and each request's latency in ms.
func timed(n int, size int64, get func() (int64, error)) (float64, int, []float64) {
	fails := 0
	lat := make([]float64, 0, n)
	start := time.Now()
	for range n {
		t := time.Now()
		if got, err := get(); err != nil || got != size {
			fails++
			continue
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	return float64(size) * float64(n-fails) / time.Since(start).Seconds() / (1 << 20), fails, lat
}

func (r *benchRig) peerGet(ctx context.Context, c *http.Client, u, tok, corr string) (*http.Response, error) {
	return r.peerDoAccept(ctx, c, u, tok, corr, "application/pdf")
}

func (r *benchRig) peerDoAccept(ctx context.Context, c *http.Client, u, tok, corr, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(reqctx.HeaderMedMijRequestID, reqctx.NewID())
	req.Header.Set(reqctx.HeaderCorrelationID, corr)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: status %d", req.URL.Path, resp.StatusCode)
	}
	return resp, nil
}

// documentID lists the DocumentReferences (FHIR STU3 search) and returns the id.
func (r *benchRig) documentID(ctx context.Context, c *http.Client, tok, corr string) (string, error) {
	resp, err := r.peerDoAccept(ctx, c, r.issuer("noord")+"/51/fhir/DocumentReference?status=current", tok, corr, "application/fhir+json")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var bundle struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&bundle); err != nil || len(bundle.Entry) == 0 {
		return "", fmt.Errorf("DocumentReference search: no entry (%v)", err)
	}
	return bundle.Entry[0].Resource.ID, nil
}

func (r *benchRig) serveRSS() (cpu, peak float64) {
	for _, p := range r.procs {
		if p.name == "PGO Noord serve" {
			return readProc(p.cmd.Process.Pid)
		}
	}
	return 0, 0
}

// rawServer serves size random bytes for every byte a client sends, over TLS
// 1.3 with mutual TLS and Noord's certificate: the ceiling a download over
// loopback in this process can reach.
type rawServer struct {
	ln   net.Listener
	conn *tls.Conn
	buf  []byte
	size int64
}

func (r *benchRig) rawTLS(size int64) (*rawServer, error) {
	certs := filepath.Join(r.dir, "certs")
	srv, err := tls.LoadX509KeyPair(filepath.Join(certs, "noord.localhost.pem"), filepath.Join(certs, "noord.localhost-key.pem"))
	if err != nil {
		return nil, err
	}
	cli, err := r.clientCert()
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(r.caFile())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		return nil, err
	}
	doc := make([]byte, size)
	_, _ = rand.Read(doc)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
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
			}()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{*cli}, ServerName: "noord.localhost"})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &rawServer{ln: ln, conn: conn, buf: make([]byte, readBufSize), size: size}, nil
}

func (s *rawServer) get() (int64, error) {
	if _, err := s.conn.Write([]byte{1}); err != nil {
		return 0, err
	}
	return readAll(io.LimitReader(s.conn, s.size), s.buf) // as a download is read
}

func (s *rawServer) close() { s.conn.Close(); s.ln.Close() }
