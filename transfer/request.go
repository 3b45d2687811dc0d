package transfer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// Outbound requests to the source. Retries with back-off only where a retry can
// help: a reset or refused connection, a 5xx, a 503/429 with Retry-After; never a
// 4xx (RFC 9110 §15.5: the request itself is wrong) or a verification failure.

// do sends req with the bearer token, retrying transient failures on s.c.Backoff.
// The caller closes the body of a returned response (its status is 2xx). The
// response context ends with ctx.
func (s *Service) do(ctx context.Context, method, url, token string, hdr http.Header) (*http.Response, *Failure) {
	var last *Failure
	for attempt := 0; ; attempt++ {
		resp, f := s.once(ctx, method, url, token, hdr)
		if f == nil {
			return resp, nil
		}
		last = f
		if !f.Transient || attempt >= len(s.c.Backoff) {
			return nil, last
		}
		wait := s.c.Backoff[attempt]
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), s.c.Now()); ok && ra <= s.c.PollCap {
				wait = max(wait, ra)
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, transient(ReasonUnavailable, "stopped while waiting to try again")
		}
	}
}

// once sends one request. A transient failure may come with the response (its
// body already closed) so that do can read Retry-After.
func (s *Service) once(ctx context.Context, method, url, token string, hdr http.Header) (*http.Response, *Failure) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, fail(ReasonHTTP, "bad request URL")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.doWithHeaderTimeout(req)
	if err != nil {
		return nil, transportFailure(err)
	}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		if ce := contentCoding(resp.Header); ce != "" {
			drain(resp)
			return nil, fail(ReasonHTTP, "the source answered %s with Content-Encoding %q, which we did not ask for; sizes and digests are checked on unencoded bytes, so it was refused",
				method, ce)
		}
		return resp, nil
	case c == http.StatusUnauthorized:
		drain(resp)
		return nil, fail(ReasonTokenExpired, "the source refused the token (401) for %s", method)
	case c == http.StatusTooManyRequests || c >= 500:
		drain(resp)
		return resp, transient(ReasonUnavailable, "the source answered %d", c)
	default:
		drain(resp)
		return nil, fail(ReasonHTTP, "the source answered %d", c)
	}
}

// doWithHeaderTimeout sends req and gives up when the response headers have not
// come within HeaderTimeout (a source that accepts the connection and then says
// nothing). The body may take longer, up to the request's own deadline, but not
// HeaderTimeout without a byte: a body gone silent mid-way (a source that
// stalls, or a connection dropped without a reset) then ends as a broken
// connection, which readBody resumes with Range, instead of holding the
// transfer until the request's deadline and failing it as too slow.
func (s *Service) doWithHeaderTimeout(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	late := time.AfterFunc(s.c.HeaderTimeout, cancel)
	resp, err := s.c.HTTP.Do(req.WithContext(ctx))
	if !late.Stop() && err != nil {
		cancel()
		return nil, fmt.Errorf("no response headers within %s: %w", s.c.HeaderTimeout, err)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	late.Reset(s.c.HeaderTimeout) // from here: the longest silence within the body
	resp.Body = &silenceBound{ReadCloser: resp.Body, timer: late, bound: s.c.HeaderTimeout, cancel: cancel}
	return resp, nil
}

// silenceBound cancels the request when bound passes without a byte of the
// body (timer, armed when the headers came, is re-armed by every read that
// returns data), and releases the request's context when the body is closed.
type silenceBound struct {
	io.ReadCloser
	timer  *time.Timer
	bound  time.Duration
	cancel context.CancelFunc
}

func (b *silenceBound) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.bound)
	}
	return n, err
}

func (b *silenceBound) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// transportFailure classifies a client error: a refused host (not on the
// Whitelist, not https) and a refused server certificate are final for the task
// (no attempt within minutes changes them), anything else on the wire may pass.
func transportFailure(err error) *Failure {
	var pe *pgo.Error
	if errors.Is(err, zal.ErrRedirect) && errors.As(err, &pe) {
		return fail(ReasonHTTP, "%s", pe.Message) // before EFORBIDDEN: it is not a Whitelist refusal
	}
	if errors.As(err, &pe) && pe.Code == pgo.EFORBIDDEN {
		return fail(ReasonNotWhitelisted, "%s", pe.Message)
	}
	if f := certificateFailure(err); f != nil {
		return f
	}
	if errors.Is(err, context.Canceled) {
		return transient(ReasonUnavailable, "stopped")
	}
	return transient(ReasonUnavailable, "no answer from the source (connection failed or timed out)")
}

// certificateFailure names why the source's server certificate was refused
// (RFC 8705 needs a verified server; a wrong name may be a misdirected or
// intercepted connection), or returns nil for any other error.
func certificateFailure(err error) *Failure {
	var cv *tls.CertificateVerificationError
	if !errors.As(err, &cv) {
		return nil
	}
	var host x509.HostnameError
	if errors.As(cv.Err, &host) && host.Certificate != nil {
		return fail(ReasonCertificate, "the source's TLS certificate is not valid for %s (it names %s)",
			host.Host, certNames(host.Certificate.DNSNames))
	}
	return fail(ReasonCertificate, "the source's TLS certificate was refused: %s", clip(cv.Err.Error(), 2*maxEcho))
}

// maxCertNames is how many of a refused certificate's DNS names a detail
// repeats: the certificate is the peer's, and it may list many, long ones.
const maxCertNames = 3

// certNames lists the first DNS names of a refused certificate; a name that is
// not a short plain host name is echoed.
func certNames(names []string) string {
	out := make([]string, 0, maxCertNames+1)
	for _, n := range names[:min(len(names), maxCertNames)] {
		if len(n) > maxEcho || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*") != "" {
			n = echo(n) // not a plain host name: quoted, or only its length
		}
		out = append(out, n)
	}
	if len(names) > maxCertNames {
		out = append(out, fmt.Sprintf("%d more", len(names)-maxCertNames))
	}
	if len(out) == 0 {
		return "no DNS name"
	}
	return strings.Join(out, ", ")
}

// contentCoding returns the content coding of a response other than identity
// (RFC 9110 §8.4), "" when there is none. The peer client asks for none
// (zal.NewHTTPClient: DisableCompression), so the body is the bytes the source's
// Content-Digest and attachment size describe; an encoded body would fail those
// checks as if it were damaged, so it is refused for what it is.
func contentCoding(h http.Header) string {
	ce := strings.TrimSpace(strings.Join(h.Values("Content-Encoding"), ","))
	if ce == "" || strings.EqualFold(ce, "identity") {
		return ""
	}
	if len(ce) > 40 {
		ce = ce[:40] // a hostile peer's header is not repeated at length
	}
	return ce
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// maxRetryAfter bounds a delay-seconds value so that it cannot overflow a
// time.Duration (callers cap the wait far below this anyway).
const maxRetryAfter = 24 * time.Hour

// retryAfter parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
// Delays above a day count as a day: time.Duration(n)*time.Second wraps to a
// negative wait for n >= 9223372037 (found by FuzzRetryAfter).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, int(maxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
