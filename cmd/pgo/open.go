package main

import (
	"context"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// opened is what a command that touches sealed data needs: the configuration, the
// vault (PGO_KEYSET_FILE) and the database.
type opened struct {
	cfg   *config.Config
	vault *vault.Vault
	db    *store.DB
}

// openSealed loads the configuration, opens the keyset and connects to
// PostgreSQL, in that order: a bad setting or keyset stops with one line and exit
// 2 before any connection is made; an unreachable database is exit 1, named.
func openSealed(ctx context.Context, e *env, cmd string) (*opened, error) {
	cfg, err := loadConfig(e)
	if err != nil {
		return nil, err
	}
	v, err := openVault(cfg)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, &exitError{code: 1, msg: "pgo " + cmd + ": PostgreSQL: " + pgo.ErrorMessage(err)}
	}
	return &opened{cfg: cfg, vault: v, db: db}, nil
}

func (o *opened) Close() { o.db.Close() }
