package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// dossierCommands are the `pgo dossier SUB` subcommands.
var dossierCommands = []*command{
	{name: "import", usage: "--user ID [--fhir-version stu3|r4] PATH", run: runDossierImport,
		summary: "Import a FHIR Bundle (transaction, collection, searchset) or a directory of loose resources into a user's dossier; all or nothing."},
	{name: "generate", usage: "--size standard|large --seed N --out FILE", run: runDossierGenerate,
		summary: "Write a synthetic Dutch dossier as a FHIR STU3 zib2017 collection Bundle (deterministic per seed)."},
}

var dossierCmd = &command{
	name:    "dossier",
	summary: "The patient's dossier: import FHIR data, generate test dossiers.",
	usage:   "SUBCOMMAND [flags]",
	subs:    dossierCommands,
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
	a, err := openApp(ctx, e, "dossier import", e.stderr, needDB|needVault)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.dossiers().ImportPath(ctx, *user, fs.Arg(0), opt)
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
