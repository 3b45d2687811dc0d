package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/store"
)

var migrateCmd = &command{
	name:    "migrate",
	summary: "Apply the embedded database migrations as the owner, then grant the application role (PGO_DB_APP_ROLE) what serve and worker need (safe to run twice or at once).",
	run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
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
		from, to, err := store.Migrate(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		if from == to {
			fmt.Fprintf(e.stdout, "database is at migration %d; nothing to do\n", to)
		} else {
			fmt.Fprintf(e.stdout, "migrated database from %d to %d\n", from, to)
		}
		if cfg.AppRole == "" {
			return nil
		}
		if err := store.GrantAppRole(ctx, cfg.DatabaseURL, cfg.AppRole, cfg.AppPassword); err != nil {
			return &exitError{code: 1, msg: "pgo migrate: application role " + cfg.AppRole + ": " + pgo.ErrorMessage(err)}
		}
		fmt.Fprintf(e.stdout, "application role %s may use the tables (append-only on the audit log): run pgo serve and pgo worker as it\n", cfg.AppRole)
		return nil
	},
}
