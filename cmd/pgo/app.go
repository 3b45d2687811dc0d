package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/zal"
	"github.com/pgo-koppelvlak/pgo/zal/zaldb"
)

// App is what one pgo process is built from, opened once: the configuration, the
// logger, PostgreSQL, the vault, the signing key, Redis, the MedMij lists and the
// audit store. Every area (accounts, consent, the FHIR endpoint, transfers, ...)
// is constructed from it and mounted explicitly, in the one order that
// mountAreas shows (serve.go), and every subcommand opens the parts it needs
// through openApp, so there is one place where concrete parts are made.
type App struct {
	Config *config.Config
	Log    *slog.Logger
	DB     *store.DB
	// Vault seals data at rest (PGO_KEYSET_FILE); nil unless needVault.
	Vault *vault.Vault
	// Signer is the instance signing key (PGO_SIGNING_KEY): audit checkpoints,
	// access tokens, JWKS. Nil when the setting is empty.
	Signer *vault.SigningKey
	// Redis is the queue's Redis; nil unless needRedis.
	Redis *redis.Client
	// Lists are the MedMij lists (ZAL, OCL, GNL, Whitelist); nil unless needLists.
	Lists *zal.Registry
	// Audit reads and verifies the audit log; writers append with
	// auditdb.Append in their own transaction.
	Audit *auditdb.Store

	// built holds the services made from the parts above, each made once per
	// process however many areas use it (accounts.go, serve_consent.go).
	built struct {
		accounts     *account.Service
		accountStore *accountdb.Store
		consent      *consent.Service
		quota        *audit.Quota
	}
	closers []func()
}

// need says which parts a command opens beyond the configuration and logger.
type need uint8

const (
	needDB need = 1 << iota
	needVault
	needRedis
	needLists  // loads the lists (stored copies first) and refreshes them until Close
	needSigner // loads PGO_SIGNING_KEY when set
)

// openApp builds the App for the command cmd ("serve", "user", ...). It checks
// what needs no connection first (configuration and keyset: a bad one is one
// line and exit 2; a missing signing key file says how to make it), then
// connects: an unreachable PostgreSQL is exit 1, named; an unreachable Redis is
// only logged (see openRedis). logTo receives the JSON log.
func openApp(ctx context.Context, e *env, cmd string, logTo io.Writer, n need) (*App, error) {
	cfg, err := loadConfig(e)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: newLogger(logTo, cfg.LogLevel)}
	// The keyset also holds the audit chain's MAC keys: every process that
	// touches the database opens it when it is configured, so that no record is
	// linked without the key (an unkeyed record after keyed ones is a break).
	if n&needVault != 0 || (n&(needDB|needLists) != 0 && cfg.Vault.KeysetFile != "") {
		if a.Vault, err = openVault(cfg); err != nil {
			return nil, err
		}
		a.warnClearKeyset()
		auditdb.UseChainKeys(a.Vault)
		a.onClose(func() { auditdb.UseChainKeys(nil) })
	}
	if n&needSigner != 0 && cfg.Vault.SigningKey != "" {
		if a.Signer, err = vault.LoadSigningKey(cfg.Vault.SigningKey); err != nil {
			return nil, err // names PGO_SIGNING_KEY and how to create the file
		}
	}
	if n&(needDB|needLists) != 0 {
		db, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			a.Close()
			return nil, &exitError{code: 1, msg: "pgo " + cmd + ": PostgreSQL: " + pgo.ErrorMessage(err)}
		}
		a.DB = db
		a.onClose(db.Close)
		a.Audit = auditdb.New(db, a.verifier())
	}
	if n&needRedis != 0 {
		if a.Redis, err = openRedis(ctx, cfg.RedisURL, a.Log); err != nil {
			a.Close()
			return nil, err
		}
		a.onClose(func() { a.Redis.Close() })
	}
	if n&needLists != 0 {
		a.openLists(ctx)
	}
	return a, nil
}

// warnClearKeyset says loudly when the keyset file is stored unencrypted (no
// PGO_MASTER_KEY) on an instance that is not a local development one: then
// whoever copies that one file can open every sealed dossier, token and TOTP
// seed (issue 15). Development instances (a localhost public URL) stay quiet.
func (a *App) warnClearKeyset() {
	if a.Config.Vault.MasterKey != "" || devHost(a.Config.PublicURL) {
		return
	}
	a.Log.Warn("SECURITY: the keyset file is stored unencrypted; anyone who can read it can decrypt all data at rest. "+
		"Set PGO_MASTER_KEY (from a secret store, not beside the file) and re-encrypt the keyset",
		"setting", "PGO_MASTER_KEY", "keyset", a.Config.Vault.KeysetFile)
}

// warnSuperuser says loudly when the process connects to PostgreSQL as a
// superuser: such a connection can disable the audit log's append-only triggers
// and rewrite it (issue 15). pgo migrate creates PGO_DB_APP_ROLE for serve and
// worker to connect as instead.
func (a *App) warnSuperuser() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if super, err := a.DB.IsSuperuser(ctx); err == nil && super {
		a.Log.Warn("SECURITY: connected to PostgreSQL as a superuser, which could rewrite the audit log; "+
			"connect as the application role that pgo migrate creates", "setting", "PGO_DATABASE_URL", "role", a.Config.AppRole)
	}
}

// warnRedisDurability warns when the queue's Redis does not log its writes
// (appendonly no). The outbox marks a task sent once Redis holds it, so a Redis
// that stops loses the tasks relayed since its last snapshot (all of them
// without snapshots): those renders and transfers would never run. A Redis that
// refuses CONFIG (managed services may rename it) gets an info line instead.
func (a *App) warnRedisDurability(ctx context.Context) {
	opt, err := redis.ParseURL(a.Config.RedisURL)
	if err != nil {
		return // reported where the queue opens it
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	aof, err := rc.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		a.Log.Info("could not read Redis's persistence settings; run it with appendonly yes, or queued tasks are lost when it stops",
			"setting", "PGO_REDIS_URL", "error", err.Error())
		return
	}
	if aof["appendonly"] == "yes" {
		return
	}
	msg := "Redis keeps queued tasks in snapshots only (appendonly no): if it stops, the renders and transfers queued since the last snapshot are lost; run it with appendonly yes"
	if save, err := rc.ConfigGet(ctx, "save").Result(); err == nil && save["save"] == "" {
		msg = "Redis keeps queued tasks in memory only (appendonly no, no snapshots): if it stops, every queued render and transfer is lost; run it with appendonly yes"
	}
	a.Log.Warn(msg, "setting", "PGO_REDIS_URL")
}

// startAuditLinker runs the audit linker (issue 16) until the returned stop is
// called: appends are linked into the chain by it, shortly after they commit.
// pgo serve and pgo worker each run one; the chain head lock makes them take
// turns. stop cancels it and waits for its last round, before the DB closes.
func (a *App) startAuditLinker(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l := &auditdb.Linker{DB: a.DB, Interval: a.Config.Audit.LinkInterval, Log: a.Log}
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

// devHost reports whether a public URL names this machine only (localhost,
// *.localhost or a loopback address): a development or demo instance.
func devHost(publicURL string) bool {
	u, err := url.Parse(publicURL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// openLists loads the MedMij lists (persisted copies first, so a restart without
// network still has lists) and refreshes them in the background until Close.
func (a *App) openLists(ctx context.Context) {
	a.Lists = zalRegistry(a.Config, zaldb.New(a.DB), a.Log)
	if err := a.Lists.Load(ctx); err != nil {
		a.Log.Warn("MedMij lists: not all configured lists are available; /readyz reports them", "err", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Lists.Run(rctx); close(done) }()
	a.onClose(func() { cancel(); <-done })
}

// verifier is the signing key as the audit store's checkpoint verifier (nil
// interface when there is none, so verification still walks the chain).
func (a *App) verifier() audit.SignatureVerifier {
	if a.Signer == nil {
		return nil
	}
	return a.Signer
}

// onClose registers f to run at Close, in reverse order of registration.
func (a *App) onClose(f func()) { a.closers = append(a.closers, f) }

// Close releases what openApp opened, last opened first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
