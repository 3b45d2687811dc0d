// Command pgo is the PGO-koppelvlak service: one binary that serves both the source
// and the target role of a MedMij PGO. Each subcommand lives in its own file and
// registers itself in init, so adding one never touches this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/pgo-koppelvlak/pgo/config"
)

// command is one `pgo` subcommand.
type command struct {
	name    string
	summary string
	usage   string // after "pgo NAME "
	// run gets its own FlagSet (already named, with usage wired) and the arguments.
	// It returns errUsage for bad usage (exit 2).
	run func(ctx context.Context, env *env, fs *flag.FlagSet, args []string) error
}

// env is what a command may use of the outside world; tests give their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	configFile     string
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks bad usage: exit code 2.
var errUsage = errors.New("usage")

// exitError carries a specific exit code (for example 1 for "verify found a break").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run dispatches args to a subcommand and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	top := flag.NewFlagSet("pgo", flag.ContinueOnError)
	top.SetOutput(e.stderr)
	top.StringVar(&e.configFile, "config", "", "settings file with PGO_*=value lines (environment variables win)")
	top.Usage = func() { topUsage(e.stderr, top) }
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = top.Args()
	if len(args) == 0 {
		topUsage(e.stderr, top)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		return help(e, rest, top)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "pgo: unknown command %q (see 'pgo help')\n", name)
		return 2
	}
	fs := newFlagSet(e, c)
	err := c.run(ctx, e, fs, rest)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(e.stderr, ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintf(e.stderr, "pgo %s: %v\n", name, err)
		return 1
	}
}

func newFlagSet(e *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("pgo "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: pgo %s %s\n\n%s\n", c.name, c.usage, c.summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(e.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags and turns a parse failure into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// usageError prints msg and the command's usage, and returns errUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// loadConfig loads the configuration; a bad setting is one line and exit code 2.
func loadConfig(e *env) (*config.Config, error) {
	cfg, err := config.Load(e.configFile, e.getenv)
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo: configuration: " + err.Error()}
	}
	return cfg, nil
}

func help(e *env, args []string, top *flag.FlagSet) int {
	if len(args) == 0 {
		topUsage(e.stdout, top)
		return 0
	}
	if args[0] == "config" {
		fmt.Fprintln(e.stdout, "Settings (environment variables, or PGO_*=value lines in the --config file):")
		config.Help(e.stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "pgo help: unknown command %q\n", args[0])
		return 2
	}
	fs := newFlagSet(&env{stdout: e.stdout, stderr: e.stdout}, c)
	// Define the command's flags by running it with -h into the help writer.
	_ = c.run(context.Background(), &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stdout, getenv: e.getenv}, fs, []string{"-h"})
	return 0
}

func topUsage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprintln(w, "pgo: the PGO-koppelvlak service (MedMij): move a dossier between PGOs as PDF/A.")
	fmt.Fprintln(w, "\nusage: pgo [--config FILE] COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n'pgo help COMMAND' explains a command; 'pgo help config' lists the settings.")
}
