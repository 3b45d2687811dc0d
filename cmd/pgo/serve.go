package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server"
)

var serveCmd = &command{
	name:    "serve",
	summary: "Run the HTTPS server (web UI for patients, token and FHIR endpoints for peer PGOs).",
	run:     runServe,
}

// runServe opens the App (configuration, PostgreSQL, vault, signing key, Redis,
// MedMij lists), builds the server, mounts every area on it in the order
// mountAreas shows and serves until SIGTERM/SIGINT, then shuts down gracefully
// within PGO_SHUTDOWN_TIMEOUT. It prints "listening on https://ADDR" (the real
// port, so PGO_HTTP_ADDR may use port 0) once the listener is open.
func runServe(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	if cfg.TLSCert == "" {
		return &exitError{code: 2, msg: "pgo serve: PGO_TLS_CERT: not set; pgo serve only speaks HTTPS " +
			"(for development: pgo keys dev-ca --out DIR --host localhost)"}
	}
	a, err := openApp(ctx, e, "serve", e.stderr, needDB|needVault|needSigner|needRedis|needLists)
	if err != nil {
		return err
	}
	defer a.Close()
	srv, err := a.newServer()
	if err != nil {
		return err
	}
	if err := a.mountAreas(ctx, srv); err != nil {
		return err
	}
	defer a.startAuditLinker(ctx)() // issue 16: links this process's audit appends
	return listenAndServe(ctx, e, srv, cfg, a.Log)
}

// newServer builds the HTTP server with the core readiness checks.
func (a *App) newServer() (*server.Server, error) {
	srv, err := server.New(server.Deps{
		Config: a.Config,
		Logger: a.Log,
		Checkers: []server.Checker{
			server.CheckFunc("postgres", a.DB.Ping),
			server.CheckFunc("redis", func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }),
			server.CheckFunc("migrations", a.DB.MigrationsCurrent),
		},
	})
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo serve: " + err.Error()}
	}
	srv.Registry().MustRegister(server.DBRoundTrips(a.DB.RoundTrips))
	if a.Config.ClientCA == "" {
		a.Log.Warn("PGO_CLIENT_CA is not set: peer routes (token endpoint, FHIR API) answer 401 to every PGO")
	}
	a.warnSuperuser()
	return srv, nil
}

// mountAreas constructs every area from the App and mounts it on srv, in this
// order (an area may use what an earlier one mounted, never the reverse). Adding
// an area is one line here and a mountX method in its own file.
func (a *App) mountAreas(ctx context.Context, srv *server.Server) error {
	for _, m := range []struct {
		name  string
		mount func(context.Context, *server.Server) error
	}{
		{"medmij-lists", a.mountLists},
		{"account", a.mountAccount},
		{"consent", a.mountConsent},
		{"fhir", a.mountFHIR},
		{"transfer", a.mountTransfer},
		{"dossier", a.mountDossier},
	} {
		if err := m.mount(ctx, srv); err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	return nil
}

// openRedis makes the Redis client and pings it once. A failed ping is logged,
// not fatal: browser pages still work, /readyz reports "redis" until it answers,
// and the orchestrator keeps traffic away meanwhile (no crash loop).
func openRedis(ctx context.Context, url string, log *slog.Logger) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo: configuration: PGO_REDIS_URL: " + err.Error()}
	}
	rc := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		log.Warn("Redis does not answer; /readyz reports it until it does", "addr", opt.Addr, "error", err.Error())
	}
	return rc, nil
}

func listenAndServe(ctx context.Context, e *env, srv *server.Server, cfg *config.Config, log *slog.Logger) error {
	var l server.Listeners
	closeAll := func() {
		for _, ln := range []net.Listener{l.TLS, l.Plain, l.Ops} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	for _, x := range []struct {
		setting, addr string
		ln            *net.Listener
	}{{"PGO_OPS_ADDR", cfg.OpsAddr, &l.Ops}, {"PGO_PLAIN_HTTP_ADDR", cfg.PlainAddr, &l.Plain}, {"PGO_HTTP_ADDR", cfg.HTTPAddr, &l.TLS}} {
		if x.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s: %w", x.setting, err)
		}
		*x.ln = ln
	}
	if l.Ops != nil {
		log.Info("operations listener (/readyz, /metrics)", "addr", l.Ops.Addr().String())
		fmt.Fprintf(e.stdout, "operations on http://%s\n", l.Ops.Addr())
	}
	if l.Plain != nil {
		log.Info("plain HTTP listener for a TLS-terminating proxy", "addr", l.Plain.Addr().String())
		fmt.Fprintf(e.stdout, "listening on http://%s (behind a TLS-terminating proxy)\n", l.Plain.Addr())
	}
	log.Info("listening", "addr", l.TLS.Addr().String())
	fmt.Fprintf(e.stdout, "listening on https://%s\n", l.TLS.Addr())
	err := srv.Serve(ctx, l)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
