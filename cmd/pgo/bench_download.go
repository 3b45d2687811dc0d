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

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

var benchDownloadCmd = &command{
	name:    "download",
	summary: "Binary download MB/s (token check, streaming decryption, mutual TLS) beside raw TLS loopback in this process.",
	usage:   "[--count M] [--dossier standard|large] [--json] [--noord URL --zuid URL --dir DIR]",
	run:     runBenchDownload,
}

// downloadReport is what `pgo bench download` prints.
type downloadReport struct {
	Downloads   int     `json:"downloads"`
	Failures    int     `json:"failures"`
	Bytes       int64   `json:"bytes"`
	MBps        float64 `json:"mb_per_s"`
	RawMBps     float64 `json:"raw_tls_mb_per_s"`
	Pct         float64 `json:"pct_of_raw"`
	RSSBeforeMB float64 `json:"serve_rss_before_mb"`
	RSSPeakMB   float64 `json:"serve_peak_rss_mb"`
}

func runBenchDownload(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	r, o, err := openBench(ctx, e, fs, args, 20, 1, true)
	if err != nil {
		return err
	}
	defer r.Close()
	ps, err := r.patients(ctx, 1, dossier.Size(o.dossier))
	if err != nil {
		return err
	}
	t, err := r.transport(nil, 1)
	if err != nil {
		return err
	}
	b := r.browser(ctx, t)
	if err := b.loginAt("noord", ps[0].noord, ps[0].password); err != nil {
		return err
	}
	pc, err := b.consentCode()
	if err != nil {
		return err
	}
	c, err := r.peer(1)
	if err != nil {
		return err
	}
	tok, err := r.redeem(ctx, c, pc)
	if err != nil {
		return err
	}
	id, err := r.documentID(ctx, c, tok, pc.corr)
	if err != nil {
		return err
	}
	get := func() (int64, error) {
		resp, err := r.peerGet(ctx, c, r.issuer("noord")+"/51/fhir/Binary/"+id, tok, pc.corr)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return io.Copy(io.Discard, resp.Body)
	}
	size, err := get() // waits for the render (the Binary GET is held), then warms up
	if err != nil {
		return fmt.Errorf("first download: %w", err)
	}
	rep := downloadReport{Downloads: o.count, Bytes: size}
	_, rep.RSSBeforeMB = r.serveRSS()
	rep.MBps, rep.Failures = timed(o.count, size, func() (int64, error) { return get() })
	_, rep.RSSPeakMB = r.serveRSS()
	raw, err := r.rawTLS(size)
	if err != nil {
		return err
	}
	defer raw.close()
	if _, err := raw.get(); err != nil {
		return err
	}
	rep.RawMBps, _ = timed(o.count, size, raw.get)
	rep.MBps, rep.RawMBps = round1(rep.MBps), round1(rep.RawMBps)
	rep.Pct = round1(100 * rep.MBps / rep.RawMBps)
	if o.json {
		j, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(j))
	} else {
		fmt.Fprintf(e.stdout, "pgo bench download: %d downloads of a %d-byte document (%s dossier), %d failures\n", rep.Downloads, size, o.dossier, rep.Failures)
		fmt.Fprintf(e.stdout, "FHIR Binary (mTLS, token check, audit, decryption)  %.1f MB/s\n", rep.MBps)
		fmt.Fprintf(e.stdout, "raw TLS loopback, same bytes, this process          %.1f MB/s (%.1f%%)\n", rep.RawMBps, rep.Pct)
		fmt.Fprintf(e.stdout, "Noord serve RSS peak before %.1f MB, after %.1f MB\n", rep.RSSBeforeMB, rep.RSSPeakMB)
	}
	if rep.Failures > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("pgo bench download: %d downloads failed", rep.Failures)}
	}
	return nil
}

// timed runs get n times one after another and returns MB/s (2^20) and failures.
func timed(n int, size int64, get func() (int64, error)) (float64, int) {
	fails := 0
	start := time.Now()
	for range n {
		if got, err := get(); err != nil || got != size {
			fails++
		}
	}
	return float64(size) * float64(n-fails) / time.Since(start).Seconds() / (1 << 20), fails
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
	return &rawServer{ln: ln, conn: conn, buf: make([]byte, 32<<10), size: size}, nil
}

func (s *rawServer) get() (int64, error) {
	if _, err := s.conn.Write([]byte{1}); err != nil {
		return 0, err
	}
	return io.CopyBuffer(io.Discard, io.LimitReader(s.conn, s.size), s.buf)
}

func (s *rawServer) close() { s.conn.Close(); s.ln.Close() }
