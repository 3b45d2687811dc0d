package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
)

// exportCommands are the `pgo export SUB` subcommands.
var exportCommands = []*command{
	{name: "render", usage: "--user ID [--category NAME]... --out FILE.pdf [--pdfa 2b|1b]", run: runExportRender,
		summary: "Render a user's selection as PDF/A now (the task's code path; for operators and support)."},
	{name: "request", usage: "--user ID [--category NAME]... [--pdfa 2b|1b]", run: runExportRequest,
		summary: "Queue an export job (through the outbox; pgo worker renders it) and print its id."},
	{name: "status", usage: "JOB_ID", run: runExportStatus,
		summary: "Show an export job's state, progress, size and hashes."},
}

var exportCmd = &command{
	name:    "export",
	summary: "PDF/A exports of a patient's selection: render now, queue, or show a job.",
	usage:   "SUBCOMMAND [flags]",
	subs:    exportCommands,
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// selection holds the flags shared by render and request.
type selection struct {
	user   *string
	cats   listFlag
	level  *string
	parsed []dossier.Category
	conf   export.Conformance
}

func selectionFlags(fs *flag.FlagSet) *selection {
	s := &selection{user: fs.String("user", "", "the user's id (UUID)"), level: fs.String("pdfa", "2b", "PDF/A level: 2b or 1b")}
	fs.Var(&s.cats, "category", "category `NAME` (key, Dutch or English label); repeat; default: every category")
	return s
}

// check parses the selection; no --category means every category.
func (s *selection) check(fs *flag.FlagSet) error {
	if *s.user == "" {
		return usageError(fs, "needs --user ID")
	}
	switch *s.level {
	case "2b":
		s.conf = export.PDFA2B
	case "1b":
		s.conf = export.PDFA1B
	default:
		return usageError(fs, "--pdfa %q: want 2b or 1b", *s.level)
	}
	for _, c := range s.cats {
		cat, ok := dossier.ParseCategory(c)
		if !ok {
			return usageError(fs, "--category %q: unknown category", c)
		}
		s.parsed = append(s.parsed, cat)
	}
	if len(s.parsed) == 0 {
		for _, c := range dossier.Categories {
			s.parsed = append(s.parsed, c.Key)
		}
	}
	return nil
}

// openExport opens the configuration, vault and database for an export command.
func openExport(ctx context.Context, e *env) (*export.Jobs, *App, error) {
	a, err := openApp(ctx, e, "export", e.stderr, needDB|needVault)
	if err != nil {
		return nil, nil, err
	}
	return a.exportJobs(), a, nil
}

func exportFailed(err error) error {
	var tooLarge *export.TooLargeError
	if errors.As(err, &tooLarge) { // the operator gets the counts and the setting
		return &exitError{code: 1, msg: "pgo " + tooLarge.Error()}
	}
	msg := pgo.ErrorMessage(err)
	if msg == "" {
		msg = err.Error()
	}
	return &exitError{code: 1, msg: "pgo export: " + msg}
}

func runExportRender(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	sel := selectionFlags(fs)
	out := fs.String("out", "", "output `FILE.pdf` (written atomically)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return usageError(fs, "needs --out FILE.pdf and no arguments")
	}
	if err := sel.check(fs); err != nil {
		return err
	}
	jobs, a, err := openExport(ctx, e)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	res, err := writeAtomic(*out, func(f *os.File) (export.Result, error) {
		return jobs.RenderSelection(ctx, f, *sel.user, sel.parsed, sel.conf, stderrProgress(e))
	})
	if err != nil {
		return exportFailed(err)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d pages, %d bytes, %s, sha256 %x, in %s\n",
		*out, res.Pages, res.Size, sel.conf, res.SHA256, time.Since(start).Round(time.Millisecond))
	return nil
}

// stderrProgress prints "rendered N of M items" at every tenth.
func stderrProgress(e *env) export.Progress {
	last := -1
	return func(done, total int) error {
		if tenth := done * 10 / max(total, 1); tenth != last {
			last = tenth
			fmt.Fprintf(e.stderr, "rendered %d of %d items (%d%%)\n", done, total, done*100/max(total, 1))
		}
		return nil
	}
}

// writeAtomic writes through fn into a temporary file next to path and renames it
// over path only when fn and the sync succeeded: a reader never sees half a PDF.
func writeAtomic(path string, fn func(*os.File) (export.Result, error)) (export.Result, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return export.Result{}, err
	}
	res, err := fn(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return export.Result{}, err
	}
	return res, nil
}

func runExportRequest(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	sel := selectionFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	if err := sel.check(fs); err != nil {
		return err
	}
	jobs, a, err := openExport(ctx, e)
	if err != nil {
		return err
	}
	defer a.Close()
	// Refused here, not only when the worker renders it: a job that can only fail
	// is not queued.
	if err := jobs.CheckSelection(ctx, *sel.user, sel.parsed); err != nil {
		return exportFailed(err)
	}
	job, err := jobs.Request(ctx, export.Request{
		UserID: *sel.user, Categories: sel.parsed, Conformance: sel.conf,
		ActorType: audit.ActorSystem, ActorID: "cli",
	})
	if err != nil {
		return exportFailed(err)
	}
	fmt.Fprintln(e.stdout, job.ID)
	return nil
}

func runExportStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(fs, "needs one JOB_ID")
	}
	jobs, a, err := openExport(ctx, e)
	if err != nil {
		return err
	}
	defer a.Close()
	j, err := jobs.Job(ctx, fs.Arg(0))
	if err != nil {
		return exportFailed(err)
	}
	fmt.Fprintf(e.stdout, "job %s\nstatus %s\nprogress %d of %d items (%d%%)\nattempts %d\n", j.ID, j.Status, j.Done, j.Total, j.Percent(), j.Attempts)
	switch j.Status {
	case export.StatusReady:
		fmt.Fprintf(e.stdout, "pages %d\nsize %d\nsha256 %x\nsha1 %s\n", j.Pages, j.Size, j.SHA256, j.AttachmentHash())
	case export.StatusFailed:
		fmt.Fprintf(e.stdout, "failure %s\n", j.Failure)
	}
	return nil
}
