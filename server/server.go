// Package server is the HTTP side of pgo: the echo instance, the middleware every
// request passes (request and correlation ids, access log, metrics, recovery,
// security headers, body limit), mutual TLS for peer routes, the route table
// (routes.go) and the one HTTP error handler (error.go). Handlers stay thin: parse,
// call the domain, render.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/web"
)

// Deps is everything the server needs from the outside. cmd/pgo fills it in; tests
// give their own. Later areas add one field each for their service (a small
// interface declared in this package or the domain's own type).
type Deps struct {
	Config *config.Config
	Logger *slog.Logger
	// Checkers are the readiness checks behind /readyz (PostgreSQL, Redis,
	// migrations, later the age of the MedMij lists).
	Checkers []Checker
	// Metrics is the registry /metrics exposes; nil: the server makes its own.
	// Never the global default registry, so tests and processes stay separate.
	Metrics *prometheus.Registry
	// Timeouts of the http.Servers; zero fields get the defaults.
	Timeouts Timeouts
}

// Timeouts bound how long a client may hold a connection at each stage, against
// slow-loris style exhaustion.
type Timeouts struct {
	ReadHeader time.Duration // default 10s
	Read       time.Duration // whole request incl. body; default 60s
	// Write bounds writing the response; default 120s. Long-lived responses (SSE
	// progress streams) extend their own deadline with http.ResponseController.
	Write time.Duration
	Idle  time.Duration // keep-alive; default 120s
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Read, 60*time.Second)
	def(&t.Write, 120*time.Second)
	def(&t.Idle, 120*time.Second)
	return t
}

// Server is the configured HTTP application.
type Server struct {
	cfg  *config.Config
	log  *slog.Logger
	echo *echo.Echo // the public listeners: patients and peer PGOs
	// ops serves the operations listener (PGO_OPS_ADDR): /readyz with the names
	// of failing dependencies and /metrics, which say too much about this
	// instance (versions, per-route counts) for the patient-facing port.
	ops      *echo.Echo
	web      *web.Renderer
	checkers []Checker
	metrics  *httpMetrics
	registry *prometheus.Registry
	timeouts Timeouts

	cert      *tls.Certificate // nil when PGO_TLS_CERT is unset
	clientCAs *x509.CertPool   // nil when PGO_CLIENT_CA is unset

	kinds  map[string]Kind // route template -> kind (see routes.go)
	groups Routes          // the three route groups areas mount on
	// nav tells every page's header (the start page and error pages too) who is
	// logged in; set by MountAccount, nil without accounts.
	nav navigator
}

// New builds the server: it loads the TLS material named in the configuration,
// parses the templates, installs the middleware and registers every route.
func New(d Deps) (*Server, error) {
	if d.Config == nil || d.Logger == nil {
		return nil, errors.New("server: Deps.Config and Deps.Logger are required")
	}
	s := &Server{cfg: d.Config, log: d.Logger, checkers: d.Checkers, registry: d.Metrics,
		timeouts: d.Timeouts.withDefaults(), kinds: map[string]Kind{}}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	var err error
	if s.web, err = web.NewRenderer(); err != nil {
		return nil, err
	}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	if s.metrics, err = newHTTPMetrics(s.registry); err != nil {
		return nil, err
	}
	s.echo, s.ops = s.newEcho(), s.newEcho()
	s.routes()
	return s, nil
}

// newEcho is an echo instance with the middleware every request passes.
func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(slogWriter{s.log})
	e.IPExtractor = s.remoteIP()
	e.HTTPErrorHandler = s.handleError
	e.Use(s.requestIDs, s.securityHeaders, s.accessLog, s.recoverPanic, s.limitBody)
	return e
}

// AddChecker adds readiness checks behind /readyz. Call it while wiring, before
// Serve (it is not safe to call concurrently with requests).
func (s *Server) AddChecker(c ...Checker) { s.checkers = append(s.checkers, c...) }

// Handler returns the application as an http.Handler (for tests and listeners).
func (s *Server) Handler() http.Handler { return s.echo }

// OpsHandler returns the operations endpoints (/healthz, /readyz, /metrics) as an
// http.Handler: what the operations listener serves.
func (s *Server) OpsHandler() http.Handler { return s.ops }

// Listeners are where Serve accepts connections. TLS is required; Plain (behind
// a TLS-terminating proxy) and Ops (operations, PGO_OPS_ADDR) are optional.
type Listeners struct {
	TLS, Plain, Ops net.Listener
}

// Registry returns the Prometheus registry behind /metrics, so other parts of the
// process can add their collectors.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Serve runs the HTTPS server on l.TLS and, when set, the plain-HTTP server for a
// TLS-terminating proxy on l.Plain and the operations server on l.Ops. It
// returns when ctx is done and every server has shut down gracefully: no new
// connections, in-flight requests get up to PGO_SHUTDOWN_TIMEOUT to finish. It
// returns an error when a server fails or the shutdown deadline passes.
func (s *Server) Serve(ctx context.Context, l Listeners) error {
	if l.TLS == nil {
		return errors.New("server: no TLS listener")
	}
	tc, err := s.TLSConfig()
	if err != nil {
		return err
	}
	servers := []*http.Server{s.httpServer(s.echo, tc)}
	if err := serveH2(servers[0]); err != nil {
		return err
	}
	errc := make(chan error, 3)
	// ServeTLS with the certificate in TLSConfig also offers HTTP/2 via ALPN
	// (through serveH2, so that a malformed path gets our 400 page).
	go func() { errc <- servers[0].ServeTLS(l.TLS, "", "") }()
	for _, p := range []struct {
		ln net.Listener
		h  http.Handler
	}{{l.Plain, s.echo}, {l.Ops, s.ops}} {
		if p.ln == nil {
			continue
		}
		if p.ln == l.Ops {
			s.warnExposedOps(p.ln)
		}
		srv := s.httpServer(p.h, nil)
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(p.ln) }()
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
			errs = append(errs, fmt.Errorf("server: shutdown: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ServeOps runs only the operations server on ln (pgo worker's
// PGO_WORKER_OPS_ADDR: a process without public routes), until ctx is done; then
// it shuts down as Serve does.
func (s *Server) ServeOps(ctx context.Context, ln net.Listener) error {
	s.warnExposedOps(ln)
	srv := s.httpServer(s.ops, nil)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// warnExposedOps warns at start when the operations listener is bound to every
// interface (0.0.0.0, [::], ":9464"): it serves Go's profiler, which costs CPU
// and describes the build (SECURITY.md, boundary 6). It is not refused, since in
// a container the metrics scraper sits on another host of the container network
// and only the operator knows whether that network is private.
func (s *Server) warnExposedOps(ln net.Listener) {
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		s.log.Warn("the operations listener (/metrics, /debug/pprof) is reachable on every network interface; "+
			"bind PGO_OPS_ADDR or PGO_WORKER_OPS_ADDR to loopback or a private address", "addr", a.String())
	}
}

func (s *Server) httpServer(h http.Handler, tc *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		ReadTimeout:       s.timeouts.Read,
		WriteTimeout:      s.timeouts.Write,
		IdleTimeout:       s.timeouts.Idle,
		MaxHeaderBytes:    64 << 10,
		// TLS handshake failures (scanners, old clients) are expected noise: info.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
	}
}

// remoteIP is the client address for logs, the login throttle and the audit
// log: the TCP peer, except on the plain listener when that peer is a trusted
// proxy (PGO_TRUSTED_PROXIES): then the X-Forwarded-For entry that proxy
// appended (the right-most address not itself a trusted proxy).
func (s *Server) remoteIP() echo.IPExtractor {
	direct := echo.ExtractIPDirect()
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range s.cfg.TrustedProxies {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	forwarded := echo.ExtractIPFromXFFHeader(opts...)
	return func(r *http.Request) string {
		if r.TLS == nil && s.cfg.PlainAddr != "" && s.trustedProxy(r.RemoteAddr) {
			return forwarded(r)
		}
		return direct(r)
	}
}

// slogWriter sends echo's own (rare) log output to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("echo", "detail", string(p))
	return len(p), nil
}
