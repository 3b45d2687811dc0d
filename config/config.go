// Package config loads the service's settings from PGO_* environment variables and
// an optional file, applies defaults that work against a local PostgreSQL and Redis,
// and validates them so that a bad setting stops the process with one clear line.
package config

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. Areas that grow their own settings keep them in
// a sub-struct in their own file (see setting lists below).
type Config struct {
	DatabaseURL string
	RedisURL    string
	// AppRole is the PostgreSQL role pgo migrate creates for pgo serve and pgo
	// worker: not a superuser, owning nothing, append-only on the audit log.
	// AppPassword is its password (empty: none, for trust or peer auth).
	AppRole, AppPassword string

	HTTPAddr  string // HTTPS listener, e.g. ":8443"
	PlainAddr string // optional plain-HTTP listener behind a TLS-terminating proxy
	// OpsAddr is the operations listener (/readyz, /metrics); loopback by
	// default, empty turns it off.
	OpsAddr string
	// WorkerOpsAddr is pgo worker's operations listener (/healthz, /readyz,
	// /metrics, /debug/pprof); off by default, since several workers may share
	// a host.
	WorkerOpsAddr string
	// ProxyClientCertHeader names the header in which a trusted proxy passes the
	// verified client certificate (URL-encoded PEM). Empty: peer routes on the plain
	// listener are refused.
	ProxyClientCertHeader string
	// TrustedProxies are the addresses (CIDRs) of the TLS-terminating proxies
	// whose client-certificate header and X-Forwarded-For are believed. Empty:
	// none, whatever the network.
	TrustedProxies []netip.Prefix
	TLSCert        string
	TLSKey         string
	ClientCA       string // PEM bundle of trust anchors for peer client certificates
	PublicURL      string // https URL under which this instance is reached

	InstanceName    string // human name of this PGO, e.g. "PGO Noord"
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	LogLevel        string

	WorkerConcurrency      int // CPU-bound tasks: renders, rewraps
	WorkerFetchConcurrency int // I/O-bound tasks: transfer fetches waiting on their sources
	OutboxPoll             time.Duration
	OutboxRetention        time.Duration // relayed outbox rows older than this are deleted
	// WorkerRetryDelay, when set, is the wait before a failed task's first retry
	// (n times it before the n-th); 0 keeps asynq's growing default (15-45 s first).
	WorkerRetryDelay time.Duration
	// WorkerTaskCheckInterval is how long an idle worker sleeps (0.5-1.5 times it)
	// before it looks at its queues again: a task's wait to start, on each queue
	// hop of a transfer, against the idle worker's Redis polling (BENCHMARKS.md
	// round 14: 5 ms took a queue hop's p50 from 25-36 to 6-8 ms, and an idle
	// worker from ~3 % to ~14 % of a CPU and its Redis from ~1 % to ~4 %).
	WorkerTaskCheckInterval time.Duration

	// Areas with their own settings.
	ZAL      ZAL
	Audit    Audit
	Vault    Vault
	Account  Account
	Consent  Consent
	FHIR     FHIR
	Transfer Transfer
}

// setting describes one PGO_* variable: its name, default, help and how to apply it.
type setting struct {
	name  string
	def   string
	help  string
	apply func(string) error
}

func (c *Config) settings() []setting {
	s := []setting{
		str("PGO_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pgo?sslmode=disable", "PostgreSQL connection URL", &c.DatabaseURL, checkDatabaseURL),
		str("PGO_DB_APP_ROLE", "pgo_app", "PostgreSQL role pgo migrate creates and grants for pgo serve and pgo worker (empty: do not)", &c.AppRole, nil),
		str("PGO_DB_APP_PASSWORD", "", "password pgo migrate sets on PGO_DB_APP_ROLE (empty: none; use PGO_DB_APP_PASSWORD_FILE)", &c.AppPassword, nil),
		str("PGO_REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL for the job queue", &c.RedisURL, checkURL("redis", "rediss")),
		str("PGO_HTTP_ADDR", ":8443", "HTTPS listen address", &c.HTTPAddr, checkAddr),
		str("PGO_OPS_ADDR", "127.0.0.1:9464", "plain-HTTP operations listener for /readyz and /metrics; keep it off the public network (off when empty)", &c.OpsAddr, optional(checkAddr)),
		str("PGO_WORKER_OPS_ADDR", "", "plain-HTTP operations listener of pgo worker for /readyz, /metrics and /debug/pprof; keep it off the public network (off when empty)", &c.WorkerOpsAddr, optional(checkAddr)),
		str("PGO_PLAIN_HTTP_ADDR", "", "plain-HTTP listen address for a TLS-terminating proxy (off when empty)", &c.PlainAddr, optional(checkAddr)),
		str("PGO_PROXY_CLIENT_CERT_HEADER", "", "header carrying the proxy-verified client certificate (PEM, URL-encoded); needs PGO_TRUSTED_PROXIES", &c.ProxyClientCertHeader, nil),
		prefixes("PGO_TRUSTED_PROXIES", "", "comma-separated CIDRs or addresses of the TLS-terminating proxies whose certificate header and X-Forwarded-For are trusted (empty: none)", &c.TrustedProxies),
		str("PGO_TLS_CERT", "", "server certificate chain (PEM file)", &c.TLSCert, optional(checkFile)),
		str("PGO_TLS_KEY", "", "server private key (PEM file)", &c.TLSKey, optional(checkFile)),
		str("PGO_CLIENT_CA", "", "trust anchors for peer client certificates (PEM file)", &c.ClientCA, optional(checkFile)),
		str("PGO_PUBLIC_URL", "https://localhost:8443", "public https URL of this instance", &c.PublicURL, checkURL("https")),
		str("PGO_INSTANCE_NAME", "PGO", "display name of this PGO", &c.InstanceName, nonEmpty),
		integer("PGO_MAX_BODY_BYTES", "1048576", "largest request body accepted", &c.MaxBodyBytes, 1024, 1<<30),
		duration("PGO_SHUTDOWN_TIMEOUT", "20s", "how long graceful shutdown waits for in-flight work", &c.ShutdownTimeout, time.Second, time.Hour),
		str("PGO_LOG_LEVEL", "info", "debug, info, warn or error", &c.LogLevel, oneOf("debug", "info", "warn", "error")),
		intSetting("PGO_WORKER_CONCURRENCY", "4", "parallel CPU-bound jobs (renders, rewraps) per worker process; about the number of CPUs", &c.WorkerConcurrency, 1, 256),
		intSetting("PGO_WORKER_FETCH_CONCURRENCY", "16", "parallel transfer fetches per worker process, beside PGO_WORKER_CONCURRENCY (they wait on sources; each holds its document, up to PGO_MAX_DOCUMENT_BYTES, in memory)", &c.WorkerFetchConcurrency, 1, 1024),
		duration("PGO_WORKER_TASK_CHECK_INTERVAL", "50ms", "how long an idle worker waits before it looks at its queues again (0.5-1.5 times this): shorter starts each job sooner and costs idle CPU and Redis calls", &c.WorkerTaskCheckInterval, time.Millisecond, 10*time.Second),
		duration("PGO_WORKER_RETRY_DELAY", "0s", "wait before a failed job's n-th retry is n times this (0: the queue's growing default, 15-45 s first)", &c.WorkerRetryDelay, 0, time.Hour),
		duration("PGO_OUTBOX_RETENTION", "168h", "how long relayed outbox rows are kept before the worker deletes them", &c.OutboxRetention, time.Hour, 365*24*time.Hour),
		duration("PGO_OUTBOX_POLL", "5s", "outbox relay polling fallback interval", &c.OutboxPoll, 100*time.Millisecond, time.Hour),
	}
	s = append(s, c.ZAL.settings()...)
	s = append(s, c.Audit.settings()...)
	s = append(s, c.Vault.settings()...)
	s = append(s, c.Account.settings()...)
	s = append(s, c.Consent.settings()...)
	s = append(s, c.FHIR.settings()...)
	s = append(s, c.Transfer.settings()...)
	return s
}

// Load builds the configuration from defaults, then the file (if not empty), then the
// environment (lookup, usually os.LookupEnv), and validates it. The error names the
// setting and what is wrong, in one line.
func Load(file string, lookup func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	values := map[string]string{}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--config: %v", err)
		}
		defer f.Close()
		if err := readFile(f, values); err != nil {
			return nil, fmt.Errorf("--config %s: %v", file, err)
		}
	}
	for _, s := range c.settings() {
		v, ok, err := fromFileVar(s.name, lookup)
		if err != nil {
			return nil, err
		}
		if !ok {
			v, ok = lookup(s.name)
		}
		if !ok {
			if fv, ok2 := values[s.name]; ok2 {
				v, ok = fv, true
			}
		}
		if !ok {
			v = s.def
		}
		if err := s.apply(v); err != nil {
			return nil, fmt.Errorf("%s: %v", s.name, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// fromFileVar reads NAME_FILE when it is set: the value comes from that file, as
// container secrets are mounted (docker-compose.yml). Surrounding space is trimmed.
func fromFileVar(name string, lookup func(string) (string, bool)) (string, bool, error) {
	path, ok := lookup(name + "_FILE")
	if !ok || path == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: cannot read %s: %v", name, path, errUnwrapPath(err))
	}
	return strings.TrimSpace(string(b)), true, nil
}

// MustDefault returns the defaults (for tests and tools that do not read the env).
func MustDefault() *Config {
	c, err := Load("", func(string) (string, bool) { return "", false })
	if err != nil {
		panic(err)
	}
	return c
}

func (c *Config) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("PGO_TLS_KEY: PGO_TLS_CERT and PGO_TLS_KEY must be set together")
	}
	if c.ProxyClientCertHeader != "" && c.PlainAddr == "" {
		return fmt.Errorf("PGO_PROXY_CLIENT_CERT_HEADER: only meaningful with PGO_PLAIN_HTTP_ADDR")
	}
	if len(c.TrustedProxies) > 0 && c.PlainAddr == "" {
		return fmt.Errorf("PGO_TRUSTED_PROXIES: only meaningful with PGO_PLAIN_HTTP_ADDR")
	}
	// The header is believed only from the proxies' addresses (SECURITY.md,
	// boundary 4): without them every peer request on the plain listener is
	// refused, which a deployment would otherwise find out from its peers.
	if c.ProxyClientCertHeader != "" && len(c.TrustedProxies) == 0 {
		return fmt.Errorf("PGO_PROXY_CLIENT_CERT_HEADER: needs PGO_TRUSTED_PROXIES, the addresses of the proxies that may send it")
	}
	return c.Transfer.validate()
}

// readFile reads KEY=VALUE lines; blank lines and lines starting with # are skipped.
// Only PGO_* keys that the service knows are accepted, so a typo is caught.
func readFile(r io.Reader, into map[string]string) error {
	known := map[string]bool{}
	for _, s := range (&Config{}).settings() {
		known[s.name] = true
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("line %d: want KEY=VALUE", line)
		}
		k = strings.TrimSpace(k)
		if !known[k] {
			return fmt.Errorf("line %d: unknown setting %q", line, k)
		}
		into[k] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return sc.Err()
}

// Help lists every setting with its default, for `pgo help config`.
func Help(w io.Writer) {
	s := (&Config{}).settings()
	sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
	for _, x := range s {
		fmt.Fprintf(w, "  %-32s %s (default %q)\n", x.name, x.help, x.def)
	}
}

func str(name, def, help string, p *string, check func(string) error) setting {
	return setting{name, def, help, func(v string) error {
		if check != nil {
			if err := check(v); err != nil {
				return err
			}
		}
		*p = v
		return nil
	}}
}

func integer(name, def, help string, p *int64, lo, hi int64) setting {
	return setting{name, def, help, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
		}
		*p = n
		return nil
	}}
}

func intSetting(name, def, help string, p *int, lo, hi int64) setting {
	var n int64
	s := integer(name, def, help, &n, lo, hi)
	inner := s.apply
	s.apply = func(v string) error {
		if err := inner(v); err != nil {
			return err
		}
		*p = int(n)
		return nil
	}
	return s
}

func duration(name, def, help string, p *time.Duration, lo, hi time.Duration) setting {
	return setting{name, def, help, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s, 15m, 2h)", v)
		}
		if d < lo || d > hi {
			return fmt.Errorf("%s is outside %s..%s", d, lo, hi)
		}
		*p = d
		return nil
	}}
}

func boolean(name, def, help string, p *bool) setting {
	return setting{name, def, help, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
		return nil
	}}
}

func checkURL(schemes ...string) func(string) error {
	return func(v string) error {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%s is not a URL with a host", redact(v))
		}
		return checkScheme(u, schemes...)
	}
}

func checkScheme(u *url.URL, schemes ...string) error {
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
}

// checkDatabaseURL accepts a PostgreSQL URL whose host is in the authority
// (postgres://pgo@db.example:5432/pgo) or, as libpq and pgx allow, in the host
// parameter, where a directory is the server's Unix socket on this machine
// (postgres://pgo@/pgo?host=/var/run/postgresql), for a server on the same
// machine that listens on no TCP port, or whose peer authentication is wanted.
func checkDatabaseURL(v string) error {
	u, err := url.Parse(v)
	if err == nil && u.Host == "" && u.Query().Get("host") != "" {
		return checkScheme(u, "postgres", "postgresql")
	}
	return checkURL("postgres", "postgresql")(v)
}

// checkAddr accepts a listen address as net.Listen takes it: host:port,
// :port, or an IPv6 address in brackets ([::1]:9464).
func checkAddr(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

func checkFile(v string) error {
	st, err := os.Stat(v)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", v, errUnwrapPath(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, want a file", v)
	}
	return nil
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

// prefixes parses a comma-separated list of CIDRs (or single addresses, taken as
// /32 or /128).
func prefixes(name, def, help string, p *[]netip.Prefix) setting {
	return setting{name, def, help, func(v string) error {
		*p = nil
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if pf, err := netip.ParsePrefix(f); err == nil {
				*p = append(*p, pf.Masked())
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR (10.0.0.0/8) or an IP address", f)
			}
			*p = append(*p, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
		return nil
	}}
}

func optional(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return check(v)
	}
}

func errUnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// redact hides a password in a URL so that an error line never shows it.
func redact(v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme == "" && strings.Contains(strings.ToLower(v), "password")) {
		// Where a password would be in a value that does not parse (or a
		// keyword/value DSN) cannot be told: show none of it.
		return "(value not shown: it may hold a password)"
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			changed = true
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery, changed = q.Encode(), true
	}
	if changed {
		return strconv.Quote(u.String())
	}
	return strconv.Quote(v)
}
