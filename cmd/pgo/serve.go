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
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/store"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "Run the HTTPS server (web UI for patients, token and FHIR endpoints for peer PGOs).",
		run:     runServe,
	})
	// Login, account and audit pages (issue 6; mountAccount is in user.go).
	registerServeHook("account", func(ctx context.Context, w *serveWiring) error {
		return mountAccount(ctx, w.Config, w.DB, w.Server, w.Log)
	})
}

// serveWiring is what an area's serve hook gets: the shared resources and the
// built server, on which it mounts its routes (srv.MountX) and adds readiness
// checks (srv.AddChecker).
type serveWiring struct {
	Config  *config.Config
	Log     *slog.Logger
	DB      *store.DB
	Redis   *redis.Client
	Server  *server.Server
	Lists   listsRegistry // the MedMij lists (set by the zal hook)
	closers []func()
}

// OnClose registers f to run when pgo serve exits (after the server stopped).
func (w *serveWiring) OnClose(f func()) { w.closers = append(w.closers, f) }

type serveHook struct {
	name string
	wire func(ctx context.Context, w *serveWiring) error
}

// serveHooks wire the areas (account, consent, export, transfer, zal, ...) into
// pgo serve. Each area registers its hook from its own file, so adding one never
// touches this file:
//
//	func init() { registerServeHook("account", func(ctx context.Context, w *serveWiring) error { ... }) }
var serveHooks []serveHook

func registerServeHook(name string, wire func(ctx context.Context, w *serveWiring) error) {
	serveHooks = append(serveHooks, serveHook{name, wire})
}

// runServe loads the configuration, connects to PostgreSQL and Redis, builds the
// server, runs the areas' serve hooks and serves until SIGTERM/SIGINT, then shuts
// down gracefully within PGO_SHUTDOWN_TIMEOUT. It prints "listening on
// https://ADDR" (the real port, so PGO_HTTP_ADDR may use port 0) once the
// listener is open.
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
	log, err := reqctx.NewLogger(e.stderr, cfg.LogLevel)
	if err != nil {
		return &exitError{code: 2, msg: "pgo: configuration: PGO_LOG_LEVEL: " + err.Error()}
	}
	w := &serveWiring{Config: cfg, Log: log}
	defer func() {
		for i := len(w.closers) - 1; i >= 0; i-- {
			w.closers[i]()
		}
	}()
	if err := wireServer(ctx, w); err != nil {
		return err
	}
	return listenAndServe(ctx, e, w.Server, cfg.HTTPAddr, cfg.PlainAddr, log)
}

// wireServer opens PostgreSQL and Redis, builds the server with the core
// readiness checks and runs the serve hooks.
func wireServer(ctx context.Context, w *serveWiring) error {
	db, err := store.Open(ctx, w.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	w.DB = db
	w.OnClose(db.Close)
	if w.Redis, err = openRedis(ctx, w.Config.RedisURL, w.Log); err != nil {
		return err
	}
	w.OnClose(func() { w.Redis.Close() })
	w.Server, err = server.New(server.Deps{
		Config: w.Config,
		Logger: w.Log,
		Checkers: []server.Checker{
			server.CheckFunc("postgres", db.Ping),
			server.CheckFunc("redis", func(ctx context.Context) error { return w.Redis.Ping(ctx).Err() }),
			server.CheckFunc("migrations", db.MigrationsCurrent),
		},
	})
	if err != nil {
		return &exitError{code: 2, msg: "pgo serve: " + err.Error()}
	}
	if w.Config.ClientCA == "" {
		w.Log.Warn("PGO_CLIENT_CA is not set: peer routes (token endpoint, FHIR API) answer 401 to every PGO")
	}
	for _, h := range serveHooks {
		if err := h.wire(ctx, w); err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return err
			}
			return fmt.Errorf("%s: %w", h.name, err)
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

func listenAndServe(ctx context.Context, e *env, srv *server.Server, addr, plainAddr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PGO_HTTP_ADDR: %w", err)
	}
	var plain net.Listener
	if plainAddr != "" {
		if plain, err = net.Listen("tcp", plainAddr); err != nil {
			ln.Close()
			return fmt.Errorf("PGO_PLAIN_HTTP_ADDR: %w", err)
		}
		log.Info("plain HTTP listener for a TLS-terminating proxy", "addr", plain.Addr().String())
		fmt.Fprintf(e.stdout, "listening on http://%s (behind a TLS-terminating proxy)\n", plain.Addr())
	}
	log.Info("listening", "addr", ln.Addr().String())
	fmt.Fprintf(e.stdout, "listening on https://%s\n", ln.Addr())
	err = srv.Serve(ctx, ln, plain)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
