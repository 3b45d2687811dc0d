package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
)

var versionCmd = &command{
	name:    "version",
	summary: "Print the version of this binary.",
	run: func(_ context.Context, e *env, fs *flag.FlagSet, args []string) error {
		if err := parse(fs, args); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "pgo %s (%s)\n", Version, runtime.Version())
		return nil
	},
}
