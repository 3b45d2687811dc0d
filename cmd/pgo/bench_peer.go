package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// The peer side of the bench: the bench process acts as PGO Zuid's client
// (Zuid's client certificate, client_id zuid.localhost, Zuid's redirect_uri)
// towards PGO Noord. Codes come from the real consent path: a logged-in patient
// at Noord opens the authorization request and clicks "allow"; the bench stops at
// the redirect to Zuid and keeps the code.

// peerCode is one authorization code with its PKCE verifier.
type peerCode struct{ code, verifier, corr string }

// clientCert is Zuid's client certificate from the demo state.
func (r *benchRig) clientCert() (*tls.Certificate, error) {
	certs := filepath.Join(r.dir, "certs")
	c, err := tls.LoadX509KeyPair(filepath.Join(certs, "zuid.localhost-client.pem"), filepath.Join(certs, "zuid.localhost-client-key.pem"))
	return &c, err
}

// consentCode runs one authorization request at Noord for Zuid, consents, and
// returns the code from the redirect to Zuid's callback (not followed).
func (b *benchBrowser) consentCode() (peerCode, error) {
	v := make([]byte, 32)
	_, _ = rand.Read(v)
	pc := peerCode{verifier: base64.RawURLEncoding.EncodeToString(v), corr: reqctx.NewID()}
	sum := sha256.Sum256([]byte(pc.verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"zuid.localhost"}, "redirect_uri": {b.r.issuer("zuid") + "/oauth/callback"},
		"scope": {"noord~51"}, "state": {reqctx.NewID()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, reqctx.HeaderMedMijRequestID: {reqctx.NewID()}, reqctx.HeaderCorrelationID: {pc.corr}}
	p, err := b.do(http.MethodGet, b.r.issuer("noord")+"/oauth/authorize?"+q.Encode(), nil)
	if err != nil {
		return pc, err
	}
	var loc *url.URL
	b.c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/oauth/callback" {
			loc = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}
	defer func() { b.c.CheckRedirect = nil }()
	if _, err := b.submit(p, "/oauth/authorize", url.Values{"decision": {"allow"}}); err != nil {
		return pc, err
	}
	if loc == nil || loc.Query().Get("code") == "" {
		return pc, errors.New("consent did not redirect to Zuid's callback with a code")
	}
	pc.code = loc.Query().Get("code")
	return pc, nil
}

// peer is Zuid's mutual-TLS client towards Noord, conns kept-alive connections,
// taking HTTP/2 frames as large as the target's client does (zal.NewHTTPClient).
func (r *benchRig) peer(conns int) (*http.Client, error) {
	cert, err := r.clientCert()
	if err != nil {
		return nil, err
	}
	t, err := r.transport(cert, conns)
	if err != nil {
		return nil, err
	}
	t.MaxConnsPerHost = conns
	t.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: zal.MaxReadFrameSize} // as the target's client
	return &http.Client{Transport: t, Timeout: 60 * time.Second}, nil
}

// redeem is one token request (RFC 6749 §4.1.3) and returns the access token.
func (r *benchRig) redeem(ctx context.Context, c *http.Client, pc peerCode) (string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {pc.code}, "redirect_uri": {r.issuer("zuid") + "/oauth/callback"},
		"client_id": {"zuid.localhost"}, "code_verifier": {pc.verifier}}
	resp, err := r.peerDo(ctx, c, http.MethodPost, r.issuer("noord")+"/oauth/token", form, "", pc.corr)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token response without access_token (%v)", err)
	}
	return tok.AccessToken, nil
}

// peerDo sends one peer request with the MedMij-Request-ID and X-Correlation-ID
// headers; a status other than 200 is an error.
func (r *benchRig) peerDo(ctx context.Context, c *http.Client, method, u string, form url.Values, bearer, corr string) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set(reqctx.HeaderMedMijRequestID, reqctx.NewID())
	req.Header.Set(reqctx.HeaderCorrelationID, corr)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: status %d", method, req.URL.Path, resp.StatusCode)
	}
	return resp, nil
}

var benchTokenCmd = &command{
	name:    "token",
	summary: "Token requests per second over kept-alive mutual-TLS connections, codes made through the real consent path.",
	usage:   "[--count M] [--concurrency N] [--json] [--cpuprofile FILE [--profile-seconds S]] [--noord URL --zuid URL --dir DIR]",
	run:     runBenchToken,
}

// tokenReport is what `pgo bench token` prints.
type tokenReport struct {
	Requests    int     `json:"requests"`
	Failures    int     `json:"failures"`
	Concurrency int     `json:"concurrency"`
	PerSecond   float64 `json:"per_second"`
	P50         float64 `json:"p50_ms"`
	P95         float64 `json:"p95_ms"`
	RSS         float64 `json:"serve_rss_mb"`
	// RoundTrips is Noord serve's PostgreSQL round trips per token request
	// (its audit linker included), from pgo_db_round_trips_total.
	RoundTrips float64 `json:"db_round_trips_per_request"`
}

func runBenchToken(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	// Only `pgo serve` runs: the renders the consents enqueue wait in the outbox
	// instead of competing with the token endpoint for the CPU.
	prof := fs.String("cpuprofile", "", "write a CPU profile of Noord's `pgo serve` (its /debug/pprof on the operations listener) taken while the requests run to FILE")
	profSec := fs.Int("profile-seconds", 10, "length of the --cpuprofile profile (give enough --count to keep the endpoint busy that long)")
	r, o, err := openBench(ctx, e, fs, args, 1000, 8, false)
	if err != nil {
		return err
	}
	defer r.Close()
	codes, err := r.prepareCodes(ctx, e, o.count, o.concurrency)
	if err != nil {
		return err
	}
	c, err := r.peer(o.concurrency)
	if err != nil {
		return err
	}
	if _, err := r.redeem(ctx, c, codes[0]); err != nil { // warm up: one connection's handshake
		return fmt.Errorf("first token request: %w", err)
	}
	codes = codes[1:]
	lat := make([]float64, len(codes))
	var mu sync.Mutex
	fails := 0
	profDone := r.cpuProfile(ctx, "noord", *prof, *profSec)
	before := r.procStats()
	start := time.Now()
	_ = parallel(ctx, len(codes), o.concurrency, func(i int) error {
		t := time.Now()
		_, err := r.redeem(ctx, c, codes[i])
		lat[i] = ms(time.Since(t))
		if err != nil {
			mu.Lock()
			fails++
			mu.Unlock()
			fmt.Fprintf(e.stderr, "[pgo bench] token request: %v\n", err)
		}
		return nil
	})
	wall := time.Since(start)
	if err := <-profDone; err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	rep := tokenReport{Requests: len(codes), Failures: fails, Concurrency: o.concurrency,
		PerSecond: round1(float64(len(codes)-fails) / wall.Seconds()), P50: pct(lat, 50), P95: pct(lat, 95)}
	for i, p := range r.procStats() {
		if p.Name == "PGO Noord serve" {
			rep.RSS = round1(p.PeakMB)
			if p.RoundTrips >= 0 && i < len(before) {
				rep.RoundTrips = round1((p.RoundTrips - before[i].RoundTrips) / float64(len(codes)))
			}
		}
	}
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else {
		fmt.Fprintf(e.stdout, "pgo bench token: %d token requests over %d kept-alive mutual-TLS connections, %d failures\n", rep.Requests, rep.Concurrency, rep.Failures)
		fmt.Fprintf(e.stdout, "%.1f requests/s  latency p50 %.1f ms  p95 %.1f ms  Noord serve peak RSS %.1f MB, %.1f PostgreSQL round trips per request\n", rep.PerSecond, rep.P50, rep.P95, rep.RSS, rep.RoundTrips)
	}
	if fails > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("pgo bench token: %d token requests failed", fails)}
	}
	return nil
}

// prepareCodes makes n codes through Noord's consent screen: one patient per
// concurrent lane, each logged in once and consenting again and again (each
// consent is a grant with its export job, as always).
func (r *benchRig) prepareCodes(ctx context.Context, e *env, n, conc int) ([]peerCode, error) {
	lanes := min(conc, n)
	ps, err := r.patients(ctx, lanes, dossier.SizeStandard)
	if err != nil {
		return nil, err
	}
	t, err := r.transport(nil, lanes)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "[pgo bench] preparing %d codes through the consent screen (not timed)\n", n)
	codes := make([]peerCode, n)
	err = parallel(ctx, lanes, lanes, func(l int) error {
		b := r.browser(ctx, t)
		if err := b.loginAt("noord", ps[l].noord, ps[l].password); err != nil {
			return err
		}
		for i := l; i < n; i += lanes {
			var err error
			if codes[i], err = b.consentCode(); err != nil {
				return fmt.Errorf("code %d: %w", i, err)
			}
		}
		return nil
	})
	return codes, err
}

// cpuProfile fetches a CPU profile of seconds from the `pgo serve` of instance
// key (its operations listener, loopback) into file, in the background; the
// channel yields the outcome. Without file it yields nil at once.
func (r *benchRig) cpuProfile(ctx context.Context, key, file string, seconds int) <-chan error {
	done := make(chan error, 1)
	if file == "" {
		done <- nil
		return done
	}
	u := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", r.st.instance(key).OpsPort, seconds)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
			return
		}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(file, b, 0o600)
		}
		done <- err
	}()
	return done
}
