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
	cfg      *config.Config
	log      *slog.Logger
	echo     *echo.Echo
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
	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.Logger.SetOutput(slogWriter{s.log})
	s.echo.IPExtractor = s.remoteIP()
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.Use(s.requestIDs, s.securityHeaders, s.accessLog, s.recoverPanic, s.limitBody)
	s.routes()
	return s, nil
}

// AddChecker adds readiness checks behind /readyz. Call it while wiring, before
// Serve (it is not safe to call concurrently with requests).
func (s *Server) AddChecker(c ...Checker) { s.checkers = append(s.checkers, c...) }

// Handler returns the application as an http.Handler (for tests and listeners).
func (s *Server) Handler() http.Handler { return s.echo }

// Registry returns the Prometheus registry behind /metrics, so other parts of the
// process can add their collectors.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Serve runs the HTTPS server on tlsLn and, when plainLn is not nil, the plain-HTTP
// server for a TLS-terminating proxy. It returns when ctx is done and both servers
// have shut down gracefully: no new connections, in-flight requests get up to
// PGO_SHUTDOWN_TIMEOUT to finish. It returns an error when a server fails or the
// shutdown deadline passes.
func (s *Server) Serve(ctx context.Context, tlsLn, plainLn net.Listener) error {
	if tlsLn == nil {
		return errors.New("server: no TLS listener")
	}
	tc, err := s.TLSConfig()
	if err != nil {
		return err
	}
	servers := []*http.Server{s.httpServer(tc)}
	errc := make(chan error, 2)
	// ServeTLS with the certificate in TLSConfig also offers HTTP/2 via ALPN.
	go func() { errc <- servers[0].ServeTLS(tlsLn, "", "") }()
	if plainLn != nil {
		plain := s.httpServer(nil)
		servers = append(servers, plain)
		go func() { errc <- plain.Serve(plainLn) }()
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

func (s *Server) httpServer(tc *tls.Config) *http.Server {
	return &http.Server{
		Handler:           s.echo,
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
