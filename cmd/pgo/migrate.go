package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pgo-koppelvlak/pgo/store"
)

var migrateCmd = &command{
	name:    "migrate",
	summary: "Apply the embedded database migrations (safe to run twice or from two processes at once).",
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
		return nil
	},
}
