package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/store"
)

// dossierCommands are the `pgo dossier SUB` subcommands.
var dossierCommands = map[string]*command{
	"import": {name: "import", usage: "--user ID [--fhir-version stu3|r4] PATH", run: runDossierImport,
		summary: "Import a FHIR Bundle (transaction, collection, searchset) or a directory of loose resources into a user's dossier; all or nothing."},
	"generate": {name: "generate", usage: "--size standard|large --seed N --out FILE", run: runDossierGenerate,
		summary: "Write a synthetic Dutch dossier as a FHIR STU3 zib2017 collection Bundle (deterministic per seed)."},
}

func init() {
	register(&command{
		name:    "dossier",
		summary: "The patient's dossier: import FHIR data, generate test dossiers.",
		usage:   "SUBCOMMAND [flags]",
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			names := make([]string, 0, len(dossierCommands))
			for n := range dossierCommands {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
				fmt.Fprintf(fs.Output(), "usage: pgo dossier SUBCOMMAND [flags]\n\nsubcommands:\n")
				for _, n := range names {
					fmt.Fprintf(fs.Output(), "  %-10s %s\n", n, dossierCommands[n].summary)
				}
				if len(args) == 0 {
					return errUsage
				}
				return flag.ErrHelp
			}
			c, ok := dossierCommands[args[0]]
			if !ok {
				return usageError(fs, "unknown subcommand %q (one of %s)", args[0], strings.Join(names, ", "))
			}
			sub := newFlagSet(e, &command{name: "dossier " + c.name, summary: c.summary, usage: c.usage})
			return c.run(ctx, e, sub, args[1:])
		},
	})
}

func runDossierImport(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	user := fs.String("user", "", "the user's id (UUID)")
	version := fs.String("fhir-version", "", "stu3 or r4 (detected when empty)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" || fs.NArg() != 1 {
		return usageError(fs, "needs --user and one PATH")
	}
	opt := dossier.ImportOptions{ActorType: "system", ActorID: "cli"}
	if *version != "" {
		v, err := fhir.ParseVersion(*version)
		if err != nil {
			return usageError(fs, "%v", err)
		}
		opt.Version = v
	}
	cfg, err := loadConfig(e)
	if err != nil {
		return err
	}
	in, err := dossier.ReadPath(fs.Arg(0))
	if err != nil {
		return importFailed(err)
	}
	sealer, err := openVault(cfg)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := dossier.New(dossierdb.New(db), sealer).Import(ctx, *user, in, opt)
	if err != nil {
		return importFailed(err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stdout, "imported %d resources (FHIR %s, %s) for user %s\n", res.Total, strings.ToUpper(string(res.Version)), res.Source, *user)
	for _, c := range dossier.Categories {
		if n := res.Counts[c.Key]; n > 0 {
			fmt.Fprintf(e.stdout, "  %-18s %6d\n", c.LabelNL, n)
		}
	}
	return nil
}

// importFailed shows the caller-safe message (entry index, FHIR path, reason) and
// exits 1; internal errors show only their generic sentence.
func importFailed(err error) error {
	return &exitError{code: 1, msg: "pgo dossier import: " + pgo.ErrorMessage(err) + "; nothing was imported"}
}

func runDossierGenerate(_ context.Context, e *env, fs *flag.FlagSet, args []string) error {
	size := fs.String("size", "standard", "standard (~300 resources) or large (~10,000)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same dossier")
	out := fs.String("out", "", "output file (- for stdout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return usageError(fs, "needs --out FILE and no arguments")
	}
	data, err := dossier.Generate(dossier.Size(*size), *seed)
	if err != nil {
		return usageError(fs, "%s", pgo.ErrorMessage(err))
	}
	if *out == "-" {
		_, err = e.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o600); err != nil {
		return &exitError{code: 1, msg: "pgo dossier generate: " + err.Error()}
	}
	var b struct{ Entry []json.RawMessage }
	_ = json.Unmarshal(data, &b)
	fmt.Fprintf(e.stdout, "wrote %s: %d resources, %d bytes (size %s, seed %d)\n", *out, len(b.Entry), len(data), *size, *seed)
	return nil
}
