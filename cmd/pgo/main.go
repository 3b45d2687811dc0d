// Command pgo is the PGO-koppelvlak service: one binary that serves both the source
// and the target role of a MedMij PGO. Each subcommand lives in its own file; the
// command table (commands.go) lists them all in one place, and app.go builds the
// one App from which every area is constructed and mounted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
	// subs are the subcommands of a command group (pgo keys init, pgo audit
	// verify, ...): dispatch runs them; a group has no run of its own.
	subs []*command
}

// env is what a command may use of the outside world; tests give their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	configFile     string
}

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
	c := find(commands(), name)
	if c == nil {
		fmt.Fprintf(e.stderr, "pgo: unknown command %q (see 'pgo help')\n", name)
		return 2
	}
	err := dispatch(ctx, e, c, c.name, rest)
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

// newFlagSet is the FlagSet of the command at path ("keys init"), with its
// usage text wired.
func newFlagSet(e *env, c *command, path string) *flag.FlagSet {
	fs := flag.NewFlagSet("pgo "+path, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: pgo %s %s\n\n%s\n", path, c.usage, c.summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(e.stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// dispatch runs c (at path, e.g. "keys init") with args: a command runs itself; a
// group picks its subcommand by the first argument, or prints its subcommands for
// none (exit 2), -h, --help or help (exit 0). This is the one dispatcher of every
// command group.
func dispatch(ctx context.Context, e *env, c *command, path string, args []string) error {
	if c.subs == nil {
		return c.run(ctx, e, newFlagSet(e, c, path), args)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		groupUsage(e.stderr, c, path)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	sub := find(c.subs, args[0])
	if sub == nil {
		fmt.Fprintf(e.stderr, "pgo %s: unknown subcommand %q (one of %s)\n", path, args[0], strings.Join(names(c.subs), ", "))
		groupUsage(e.stderr, c, path)
		return errUsage
	}
	return dispatch(ctx, e, sub, path+" "+sub.name, args[1:])
}

func groupUsage(w io.Writer, c *command, path string) {
	fmt.Fprintf(w, "usage: pgo %s SUBCOMMAND [flags]\n\n%s\n\nsubcommands:\n", path, c.summary)
	for _, s := range c.subs {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\n'pgo help %s SUBCOMMAND' explains one.\n", path)
}

// find returns the command named name in cs, nil when there is none.
func find(cs []*command, name string) *command {
	for _, c := range cs {
		if c.name == name {
			return c
		}
	}
	return nil
}

func names(cs []*command) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
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

// help explains a command or a subcommand (pgo help keys init) on stdout.
func help(e *env, args []string, top *flag.FlagSet) int {
	if len(args) == 0 || (len(args) == 1 && args[0] == "help") {
		topUsage(e.stdout, top)
		return 0
	}
	if len(args) == 1 && args[0] == "config" {
		fmt.Fprintln(e.stdout, "Settings (environment variables, or PGO_*=value lines in the --config file):")
		config.Help(e.stdout)
		return 0
	}
	cs, path := commands(), ""
	var c *command
	for _, name := range args {
		if c = find(cs, name); c == nil {
			fmt.Fprintf(e.stderr, "pgo help: unknown command %q\n", strings.TrimSpace(path+" "+name))
			return 2
		}
		path, cs = strings.TrimSpace(path+" "+name), c.subs
	}
	out := &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stdout, getenv: e.getenv}
	if c.subs != nil {
		groupUsage(e.stdout, c, path)
		return 0
	}
	// Define the command's flags by running it with -h into the help writer.
	_ = c.run(context.Background(), out, newFlagSet(out, c, path), []string{"-h"})
	return 0
}

func topUsage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprintln(w, "pgo: the PGO-koppelvlak service (MedMij): move a dossier between PGOs as PDF/A.")
	fmt.Fprintln(w, "\nusage: pgo [--config FILE] COMMAND [flags] [args]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n'pgo help COMMAND' explains a command; 'pgo help config' lists the settings.")
}
