package zal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

func defaultFetchClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: timeout, Transport: tr}
}

// fetchURL does a conditional GET (RFC 9110 §13.1: If-None-Match, If-Modified-Since)
// when a current list exists, and reads at most MaxListSize bytes.
func (r *Registry) fetchURL(ctx context.Context, url string, st listState, haveCur bool) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, pgo.Wrap(pgo.EINVALID, err, "list URL is not valid")
	}
	if req.URL.Scheme != "https" {
		return fetched{}, pgo.Errorf(pgo.EINVALID, "list URL must use https")
	}
	if haveCur && st.etag != "" {
		req.Header.Set("If-None-Match", st.etag)
	}
	if haveCur && st.lastModified != "" {
		req.Header.Set("If-Modified-Since", st.lastModified)
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	resp, err := httpsOnly(r.opts.HTTPClient).Do(req)
	if errors.Is(err, errRedirectNotHTTPS) {
		return fetched{}, pgo.Wrap(pgo.EUNAVAILABLE, err, "fetching the list failed: redirected to a URL that is not https")
	}
	if err != nil {
		return fetched{}, pgo.Wrap(pgo.EUNAVAILABLE, err, "fetching the list failed: "+netReason(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && haveCur {
		return fetched{notModified: true, etag: st.etag, lastModified: st.lastModified}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return fetched{}, pgo.Errorf(pgo.EUNAVAILABLE, "fetching the list failed: HTTP %d", resp.StatusCode)
	}
	raw, err := readLimited(resp.Body)
	if err != nil {
		if pgo.ErrorCode(err) == pgo.EUNAVAILABLE {
			return fetched{}, pgo.Wrap(pgo.EUNAVAILABLE, err, "fetching the list failed: "+netReason(err))
		}
		return fetched{}, err
	}
	return fetched{raw: raw, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}, nil
}

var errRedirectNotHTTPS = errors.New("redirect to a URL that is not https")

// httpsOnly returns a copy of c that refuses to follow a redirect away from https:
// the lists are not signed, so TLS is all that keeps someone on the path from
// handing us a list of their own.
func httpsOnly(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errRedirectNotHTTPS
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

func netReason(err error) string {
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()) {
		return "timeout"
	}
	return "connection error"
}

func readFileOrigin(path string) (fetched, error) {
	f, err := os.Open(path)
	if err != nil {
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		return fetched{}, pgo.Wrap(pgo.EUNAVAILABLE, err, "reading the list file failed: "+reason.Error())
	}
	defer f.Close()
	raw, err := readLimited(f)
	if err != nil {
		return fetched{}, err
	}
	return fetched{raw: raw}, nil
}

// accept validates a fetched list and swaps it in when its Volgnummer is higher;
// an identical copy of the current list only counts as a successful check.
func (r *Registry) accept(ctx context.Context, kind Kind, origin string, f fetched) error {
	now := r.opts.Now()
	if f.notModified {
		return r.confirm(ctx, kind, now, f)
	}
	l, err := ParseKind(kind, f.raw, r.opts.Parse)
	if err != nil {
		return err
	}
	swapped, err := r.swap(kind, origin, l, f, now)
	if err != nil || !swapped {
		if err == nil {
			err = r.confirm(ctx, kind, now, f)
		}
		return err
	}
	r.opts.Logger.Info("zal: list replaced", "list", kind, "volgnummer", l.Head().Volgnummer, "origin", origin)
	if r.opts.Store != nil {
		err := r.opts.Store.SaveList(ctx, StoredList{Kind: kind, Volgnummer: l.Head().Volgnummer, Raw: f.raw,
			ETag: f.etag, LastModified: f.lastModified, Origin: origin, FetchedAt: now})
		if err != nil {
			r.opts.Logger.Warn("zal: persisting the list failed; it is in use but will not survive a restart", "list", kind, "err", err)
		}
	}
	return nil
}

// swap installs l as the current list of its kind when its Volgnummer is higher.
// It reports false without error for an identical copy of the current list.
func (r *Registry) swap(kind Kind, origin string, l List, f fetched, now time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.Snapshot().get(kind); cur != nil {
		ch, nh := cur.Head(), l.Head()
		if nh.Volgnummer == ch.Volgnummer && nh.SHA256 == ch.SHA256 {
			return false, nil
		}
		if nh.Volgnummer <= ch.Volgnummer {
			return false, pgo.Errorf(pgo.ECONFLICT, "Volgnummer %d is not higher than the current %d; keeping the current list", nh.Volgnummer, ch.Volgnummer)
		}
	}
	r.cur.Store(r.Snapshot().with(l))
	st := r.state[kind]
	st.etag, st.lastModified, st.origin = f.etag, f.lastModified, origin
	st.checkedAt, st.replacedAt, st.lastError = now, now, ""
	st.replacements++
	return true, nil
}

// confirm records that the current list is still current at its origin.
func (r *Registry) confirm(ctx context.Context, kind Kind, now time.Time, f fetched) error {
	r.mu.Lock()
	st := r.state[kind]
	st.checkedAt, st.lastError = now, ""
	st.etag, st.lastModified = f.etag, f.lastModified
	st.unchanged++
	r.mu.Unlock()
	if r.opts.Store != nil {
		if err := r.opts.Store.Touch(ctx, kind, now, f.etag, f.lastModified); err != nil {
			r.opts.Logger.Warn("zal: recording the list check failed", "list", kind, "err", err)
		}
	}
	return nil
}

func (r *Registry) fail(kind Kind, origin string, err error) {
	r.mu.Lock()
	st := r.state[kind]
	st.failures++
	st.lastError = pgo.ErrorMessage(err)
	r.mu.Unlock()
	r.opts.Logger.Warn("zal: list refresh failed; keeping the last good list", "list", kind, "origin", origin, "err", err)
}

// ListStats are plain values for /metrics (the server publishes them; zal does not
// import a metrics library) and for diagnostics.
type ListStats struct {
	Kind         Kind
	Configured   bool
	Loaded       bool
	Volgnummer   int64
	Tijdstempel  time.Time
	Origin       string
	CheckedAt    time.Time // last time the list was confirmed current
	ReplacedAt   time.Time
	Replacements uint64
	Unchanged    uint64
	Failures     uint64
	LastError    string
}

// Stats returns one entry per kind, in Kinds order.
func (r *Registry) Stats() []ListStats {
	snap := r.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ListStats, 0, len(Kinds))
	for _, k := range Kinds {
		st := r.state[k]
		_, configured := r.opts.Origins[k]
		s := ListStats{Kind: k, Configured: configured, Origin: st.origin, CheckedAt: st.checkedAt,
			ReplacedAt: st.replacedAt, Replacements: st.replacements, Unchanged: st.unchanged,
			Failures: st.failures, LastError: st.lastError}
		if l := snap.get(k); l != nil {
			s.Loaded, s.Volgnummer, s.Tijdstempel = true, l.Head().Volgnummer, l.Head().Tijdstempel
		}
		out = append(out, s)
	}
	return out
}

// ErrNotConfigured is what Ready returns when no list is configured at all: the
// instance then cannot take part in a transfer, and /readyz must say "not
// configured" rather than count the lists as ready (issue 13). Its
// NotConfigured method lets the server tell it from a failure without importing
// this package.
var ErrNotConfigured error = notConfigured{}

type notConfigured struct{}

func (notConfigured) Error() string {
	return "no MedMij list is configured (PGO_ZAL_FILE/PGO_ZAL_URL, PGO_OCL_*, PGO_GNL_*, PGO_WHITELIST_*)"
}

// NotConfigured marks the error as "nothing to check" for readiness reports.
func (notConfigured) NotConfigured() bool { return true }

// Ready reports, for /readyz, whether every configured list is loaded and was
// confirmed current within maxAge; the error names each list that is not. With
// no list configured at all it returns ErrNotConfigured.
func (r *Registry) Ready(maxAge time.Duration) error {
	now := r.opts.Now()
	var bad []string
	some := false
	for _, s := range r.Stats() {
		some = some || s.Configured || s.Loaded
		switch {
		case !s.Configured && !s.Loaded:
		case !s.Loaded:
			bad = append(bad, fmt.Sprintf("%s list not loaded", s.Kind))
		case now.Sub(s.CheckedAt) > maxAge:
			bad = append(bad, fmt.Sprintf("%s list is stale (last confirmed %s ago, maximum %s)",
				s.Kind, now.Sub(s.CheckedAt).Round(time.Second), maxAge))
		}
	}
	if len(bad) > 0 {
		return pgo.Errorf(pgo.EUNAVAILABLE, "%s", joinSemi(bad))
	}
	if !some {
		return ErrNotConfigured
	}
	return nil
}

func joinSemi(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += "; "
		}
		out += v
	}
	return out
}
