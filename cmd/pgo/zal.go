package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/zal"
)

var zalCmd = &command{
	name:    "zal",
	summary: "MedMij lists (ZAL, OCL, GNL, Whitelist): check files, show qualified sources, generate lists for local instances.",
	usage:   "check|show|generate [flags] [args]",
	subs:    []*command{zalCheckCmd, zalShowCmd, zalGenerateCmd},
}

var zalCheckCmd = &command{
	name:    "check",
	summary: "Validate list files strictly (detects ZAL, OCL, GNL or Whitelist); exit 1 on any error.",
	usage:   "[--lenient-ports] FILE...",
	run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
		lenient := fs.Bool("lenient-ports", false, "DEVELOPMENT ONLY: accept a port on the authorization endpoint")
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usageError(fs, "name at least one FILE")
		}
		bad := 0
		for _, path := range fs.Args() {
			l, err := zal.ParseFile(path, zal.ParseOptions{LenientPorts: *lenient})
			if err != nil {
				bad++
				fmt.Fprintf(e.stdout, "%s: error: %s\n", path, pgo.ErrorMessage(err))
				continue
			}
			fmt.Fprintf(e.stdout, "%s: ok: %s\n", path, describeList(l))
		}
		if bad > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("pgo zal check: %d of %d files have errors", bad, fs.NArg())}
		}
		return nil
	},
}

// describeList is the one-line summary `pgo zal check` prints for a valid list.
func describeList(l zal.List) string {
	h := l.Head()
	head := fmt.Sprintf("%s list, Volgnummer %d, Tijdstempel %s", strings.ToUpper(string(h.Kind)), h.Volgnummer, h.Tijdstempel.Format("2006-01-02T15:04:05Z07:00"))
	switch v := l.(type) {
	case *zal.ZAL:
		release := "release3"
		if h.Namespace == zal.NamespaceZAL2 {
			release = "release2"
		}
		return fmt.Sprintf("%s (%s), %d providers, %d qualified sources for gegevensdienst %s",
			head, release, len(v.Providers), len(v.Sources(zal.Gegevensdienst51)), zal.Gegevensdienst51)
	case *zal.OCL:
		return fmt.Sprintf("%s, %d clients", head, len(v.Clients))
	case *zal.GNL:
		return fmt.Sprintf("%s, %d gegevensdiensten", head, len(v.IDs))
	case *zal.Whitelist:
		return fmt.Sprintf("%s, %d nodes", head, len(v.Hosts))
	}
	return head
}

var zalShowCmd = &command{
	name:    "show",
	summary: "Show the qualified sources (Aanbiedertype APD) from the configured ZAL (PGO_ZAL_FILE or PGO_ZAL_URL).",
	usage:   "[--gegevensdienst 51] [--search TEXT]",
	run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
		gd := fs.String("gegevensdienst", zal.Gegevensdienst51, "GegevensdienstId")
		search := fs.String("search", "", "only sources whose name contains TEXT")
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
		if cfg.ZAL.ZALFile == "" && cfg.ZAL.ZALURL == "" {
			return &exitError{code: 2, msg: "pgo zal show: set PGO_ZAL_FILE or PGO_ZAL_URL"}
		}
		reg := zalRegistry(cfg, nil, slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError})))
		if err := reg.Refresh(ctx, zal.KindZAL); err != nil {
			return &exitError{code: 1, msg: "pgo zal show: " + pgo.ErrorMessage(err)}
		}
		sources, _ := reg.Search(*gd, *search)
		z := reg.Snapshot().ZAL
		fmt.Fprintf(e.stdout, "ZAL Volgnummer %d: %d qualified sources for gegevensdienst %s\n", z.Volgnummer, len(sources), *gd)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPE\tAUTHORIZATION\tTOKEN\tRESOURCE")
		for _, s := range sources {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, zal.Scope(s.Name, *gd), s.Authorization, s.Token, s.Resource())
		}
		return tw.Flush()
	},
}

// zalRegistry builds the list registry from the configuration (serve and worker
// call this too); st may be nil (no persistence).
func zalRegistry(cfg *config.Config, st zal.Store, log *slog.Logger) *zal.Registry {
	origins := map[zal.Kind]zal.Origin{}
	for k, o := range map[zal.Kind]zal.Origin{
		zal.KindZAL: {File: cfg.ZAL.ZALFile, URL: cfg.ZAL.ZALURL}, zal.KindOCL: {File: cfg.ZAL.OCLFile, URL: cfg.ZAL.OCLURL},
		zal.KindGNL: {File: cfg.ZAL.GNLFile, URL: cfg.ZAL.GNLURL}, zal.KindWhitelist: {File: cfg.ZAL.WhitelistFile, URL: cfg.ZAL.WhitelistURL},
	} {
		if o.File != "" || o.URL != "" {
			if o.URL != "" {
				o.File = "" // a URL wins over a file
			}
			origins[k] = o
		}
	}
	if cfg.ZAL.LenientPorts {
		log.Warn("zal: PGO_LISTS_LENIENT_PORTS is on: ports on authorization endpoints are accepted (development only)")
	}
	return zal.New(zal.Options{Origins: origins, Refresh: cfg.ZAL.Refresh, Store: st, Logger: log,
		Parse: zal.ParseOptions{LenientPorts: cfg.ZAL.LenientPorts}})
}

var zalGenerateCmd = &command{
	name:    "generate",
	summary: "Write valid ZAL, OCL, GNL and Whitelist files for local instances (demo and tests).",
	usage:   "--out DIR --instance NAME=BASEURL... [--client HOST=ORGNAME...] [--volgnummer N] [--lenient-ports]",
	run:     runZALGenerate,
}

func runZALGenerate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var in zal.GenerateInput
	out := fs.String("out", "", "directory to write the four lists into (created if missing)")
	fs.Int64Var(&in.Volgnummer, "volgnummer", 0, "Volgnummer of the lists (default: the current Unix time)")
	fs.BoolVar(&in.LenientPorts, "lenient-ports", false, "DEVELOPMENT ONLY: allow a port in the base URL, so on the authorization endpoint")
	fs.Func("instance", "NAME=BASEURL of a source PGO (repeatable), e.g. noord=https://noord.localhost:8443", func(v string) error {
		name, base, ok := strings.Cut(v, "=")
		if !ok || name == "" || base == "" {
			return fmt.Errorf("want NAME=BASEURL, got %q", v)
		}
		in.Instances = append(in.Instances, zal.Instance{Name: name, BaseURL: base})
		return nil
	})
	fs.Func("client", "HOST=ORGNAME of an OAuth client (repeatable; default: every instance's host)", func(v string) error {
		host, org, ok := strings.Cut(v, "=")
		if !ok || host == "" || org == "" {
			return fmt.Errorf("want HOST=ORGNAME, got %q", v)
		}
		in.Clients = append(in.Clients, zal.ClientSpec{Host: host, Organisation: org})
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || len(in.Instances) == 0 || fs.NArg() != 0 {
		return usageError(fs, "--out and at least one --instance are required; no arguments")
	}
	files, err := zal.Generate(in)
	if err != nil {
		return &exitError{code: 1, msg: "pgo zal generate: " + pgo.ErrorMessage(err)}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, k := range zal.Kinds {
		path := filepath.Join(*out, zal.FileNames[k])
		if err := writeFileAtomic(path, files[k]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", path)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
