package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// keyCommands are the `pgo keys SUB` subcommands; each file registers its own in init
// (package-level variables are initialised before any init runs).
var keyCommands = map[string]*command{}

func registerKeys(c *command) { keyCommands[c.name] = c }

func init() {
	register(&command{
		name:    "keys",
		summary: "Manage keys: development CA and certificates, encryption keysets, signing keys.",
		usage:   "SUBCOMMAND [flags]",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			names := make([]string, 0, len(keyCommands))
			for n := range keyCommands {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
				fmt.Fprintf(fs.Output(), "usage: pgo keys SUBCOMMAND [flags]\n\nsubcommands:\n")
				for _, n := range names {
					fmt.Fprintf(fs.Output(), "  %-12s %s\n", n, keyCommands[n].summary)
				}
				if len(args) == 0 {
					return errUsage
				}
				return flag.ErrHelp
			}
			c, ok := keyCommands[args[0]]
			if !ok {
				return usageError(fs, "unknown subcommand %q (one of %s)", args[0], strings.Join(names, ", "))
			}
			sub := newFlagSet(e, &command{name: "keys " + c.name, summary: c.summary, usage: c.usage})
			return c.run(ctx, e, sub, args[1:])
		},
	})
}
