package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// auditCommands are the `pgo audit SUB` subcommands (NEN 7513 tools for auditors
// and operators).
var auditCommands = []*command{
	{name: "verify", usage: "[--from T] [--to T] [--checkpoints FILE]", run: runAuditVerify,
		summary: "Walk the hash chain and the signed checkpoints; exit 1 and name the first broken record."},
	{name: "export", usage: "--format ndjson|fhir [--from T] [--to T] [--correlation-id ID] [--out FILE]", run: runAuditExport,
		summary: "Export records as FHIR R4 AuditEvents: NDJSON (one per line) or a collection Bundle (fhir)."},
	{name: "checkpoint", run: runAuditCheckpoint,
		summary: "Sign the current chain head with PGO_SIGNING_KEY and store it; prints the JWS to archive elsewhere."},
	{name: "prune", run: runAuditPrune,
		summary: "Drop month partitions older than PGO_AUDIT_RETENTION and record what was dropped."},
	{name: "partitions", usage: "[--ahead N]", run: runAuditPartitions,
		summary: "Create the month partitions for this month and the next N (default 3)."},
}

var auditCmd = &command{
	name:    "audit",
	summary: "Audit log (NEN 7513): verify the chain, export FHIR AuditEvents, checkpoint, prune.",
	usage:   "SUBCOMMAND [flags]",
	subs:    auditCommands,
}

// timeFlag parses --from/--to: RFC 3339 or a date (YYYY-MM-DD, midnight UTC).
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("want RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)")
}

// auditSetup parses the flags and opens the App with the database and the
// signing key (the checkpoints' verifier).
func auditSetup(ctx context.Context, e *env, fs *flag.FlagSet, args []string) (*App, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, usageError(fs, "takes no arguments")
	}
	return openApp(ctx, e, "audit", e.stderr, needDB|needSigner)
}

func runAuditVerify(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var from, to timeFlag
	fs.Var(&from, "from", "first recorded time to check (RFC 3339 or YYYY-MM-DD)")
	fs.Var(&to, "to", "check records recorded before this time")
	cpFile := fs.String("checkpoints", "", "file with checkpoint JWSs kept outside the database (output of 'pgo audit checkpoint')")
	a, err := auditSetup(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer a.Close()
	external, err := readCheckpoints(*cpFile)
	if err != nil {
		return err
	}
	sunk, err := sinkCheckpoints(a.Config.Audit.CheckpointSink)
	if err != nil {
		return err
	}
	external = append(external, sunk...)
	res, err := a.Audit.Verify(ctx, audit.VerifyOptions{From: from.t, To: to.t, External: external})
	if err != nil {
		return err
	}
	if res.Break != nil {
		fmt.Fprintf(e.stdout, "audit chain BROKEN after %d records checked\nfirst broken: %s\n", res.Checked, res.Break)
		return &exitError{code: 1}
	}
	fmt.Fprintf(e.stdout, "audit chain OK: %d records checked, %d signed checkpoints matched, %d not linked yet (oldest %s)\n",
		res.Checked, res.Checkpoints, res.Unlinked, res.OldestUnlinked.Truncate(time.Millisecond))
	return nil
}

func runAuditExport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var from, to timeFlag
	format := fs.String("format", "", "ndjson (one AuditEvent per line) or fhir (a Bundle of type collection)")
	fs.Var(&from, "from", "first recorded time to export (RFC 3339 or YYYY-MM-DD)")
	fs.Var(&to, "to", "export records recorded before this time")
	corr := fs.String("correlation-id", "", "only records of this X-Correlation-ID (one transfer)")
	out := fs.String("out", "", "write to this new file (mode 0600) instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	export := map[string]func(context.Context, io.Writer, audit.Scanner, audit.Filter, audit.Source) (int64, error){
		"ndjson": audit.ExportNDJSON, "fhir": audit.ExportBundle,
	}[*format]
	if export == nil {
		return usageError(fs, "--format must be ndjson or fhir")
	}
	a, err := auditSetup(ctx, e, fs, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, db := a.Config, a.DB
	w, closeOut, err := openOut(e, *out)
	if err != nil {
		return err
	}
	f := audit.Filter{From: from.t, To: to.t, CorrelationID: *corr}
	n, err := export(ctx, w, auditdb.New(db, nil), f, audit.Source{Name: cfg.InstanceName, URL: cfg.PublicURL})
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	ev := cliEvent(e, audit.ActAuditExported)
	ev.Details = map[string]string{"format": *format, "records": strconv.FormatInt(n, 10)}
	for k, v := range map[string]string{"from": from.String(), "to": to.String(), "correlation_id": *corr} {
		if v != "" {
			ev.Details[k] = v
		}
	}
	if err != nil {
		ev.Outcome, ev.Reason = audit.Failure, "export_failed"
	}
	if rerr := auditdb.Record(ctx, db, ev); err == nil {
		err = rerr
	}
	if err == nil && *out != "" {
		fmt.Fprintf(e.stdout, "exported %d records to %s\n", n, *out)
	}
	return err
}

// openOut opens --out as a new file (never over an existing export) or stdout.
func openOut(e *env, path string) (io.Writer, func() error, error) {
	if path == "" {
		return e.stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, nil, fmt.Errorf("--out %s already exists; choose a new file", path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--out: %w", err)
	}
	return f, f.Close, nil
}

// cliEvent is an audit event by the operator at the command line: the actor is the
// system, named with the OS user so that NEN 7513's "who" has an answer.
func cliEvent(e *env, a audit.Action) audit.Event {
	who := "cli"
	if u, ok := e.getenv("USER"); ok && u != "" && !audit.LooksLikeBSN(u) && len(u) < 64 {
		who = "cli:" + u
	}
	return audit.Event{Action: a, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: who, ObjectType: "audit_log"}
}

func runAuditCheckpoint(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	a, err := auditSetup(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, db := a.Config, a.DB
	key, err := vault.LoadSigningKey(cfg.Vault.SigningKey)
	if err != nil {
		return err
	}
	cp, created, err := auditdb.Checkpoint(ctx, db, key)
	if err != nil {
		return err
	}
	state := "signed"
	if !created {
		state = "already signed"
	}
	fmt.Fprintf(e.stdout, "checkpoint %s: seq %d, hash %s, key %s\n%s\n", state, cp.Seq, cp.Hash, key.KeyID(), cp.JWS)
	return nil
}

func runAuditPrune(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	a, err := auditSetup(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, db := a.Config, a.DB
	res, err := auditdb.Prune(ctx, db, cfg.Audit.Retention, time.Now(), cliEvent(e, audit.ActAuditPruned).ActorID)
	if err != nil {
		return err
	}
	if len(res.Dropped) == 0 {
		fmt.Fprintf(e.stdout, "nothing to prune: no month lies entirely before the retention of %s\n", cfg.Audit.Retention)
		return nil
	}
	fmt.Fprintf(e.stdout, "dropped %s (%d records); the chain now starts at seq %d\n", strings.Join(res.Dropped, ", "), res.Records, res.KeptFromSeq)
	return nil
}

func runAuditPartitions(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	ahead := fs.Int("ahead", 3, "months ahead to create (0-24)")
	a, err := auditSetup(ctx, e, fs, args)
	if err != nil {
		return err
	}
	defer a.Close()
	db := a.DB
	if *ahead < 0 || *ahead > 24 {
		return usageError(fs, "--ahead must be 0..24")
	}
	created, err := auditdb.EnsurePartitions(ctx, db, *ahead)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %d partitions %s\n", len(created), strings.Join(created, " "))
	return nil
}

// readCheckpoints takes the JWS lines (three base64url parts, JSON header "eyJ...")
// from a file, so that the output of 'pgo audit checkpoint' can simply be appended
// to it; other lines are skipped.
// sinkCheckpoints reads the checkpoints the worker wrote to a file sink
// (PGO_AUDIT_CHECKPOINT_SINK), so that verify compares the chain with the newest
// checkpoint kept outside the database without being told. A configured sink
// file that is missing is an error: the evidence is gone, or the path is wrong.
func sinkCheckpoints(sink string) ([]string, error) {
	if sink == "" || sink == "stdout" {
		return nil, nil
	}
	b, err := os.ReadFile(sink)
	if err != nil {
		return nil, fmt.Errorf("PGO_AUDIT_CHECKPOINT_SINK: %w", err)
	}
	return jwsLines(string(b)), nil
}

func jwsLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "eyJ") && strings.Count(line, ".") == 2 {
			out = append(out, line)
		}
	}
	return out
}

func readCheckpoints(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--checkpoints: %w", err)
	}
	out := jwsLines(string(b))
	if len(out) == 0 {
		return nil, fmt.Errorf("--checkpoints: %s holds no checkpoint JWS lines", path)
	}
	return out, nil
}
