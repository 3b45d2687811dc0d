package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/vault"
)

// The encryption keyset commands: `pgo keys init`, `pgo keys rotate`, `pgo keys info`.
// They work on the file named by --out/--keyset or PGO_KEYSET_FILE, encrypted with
// PGO_MASTER_KEY when that is set (see package vault on protecting the keyset).

var keysInitCmd = &command{
	name:    "init",
	summary: "Create a new encryption keyset file (mode 0600); refuses to overwrite one.",
	usage:   "[--out FILE]",
	run:     keysInit,
}

var keysRotateCmd = &command{
	name:    "rotate",
	summary: "Add a new primary key to the encryption keyset; old data stays readable.",
	usage:   "[--keyset FILE] [--stage | --promote ID]",
	run:     keysRotate,
}

var keysInfoCmd = &command{
	name:    "info",
	summary: "List the keys of the encryption keyset (ids, status, primary; no key material).",
	usage:   "[--keyset FILE] [--json]",
	run:     keysInfo,
}

// keysetArgs parses the flags shared by the keyset commands and returns the file and
// the vault options (master key) from the configuration.
func keysetArgs(e *env, fs *flag.FlagSet, args []string, flagName string) (string, []vault.Option, error) {
	file := fs.String(flagName, "", "keyset file (default: PGO_KEYSET_FILE)")
	if err := parse(fs, args); err != nil {
		return "", nil, err
	}
	if fs.NArg() != 0 {
		return "", nil, usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(e)
	if err != nil {
		return "", nil, err
	}
	path := *file
	if path == "" {
		path = cfg.Vault.KeysetFile
	}
	if path == "" {
		return "", nil, usageError(fs, "no keyset file: give --%s FILE or set PGO_KEYSET_FILE", flagName)
	}
	opts, err := masterKeyOption(cfg)
	if err != nil {
		return "", nil, err
	}
	return path, opts, nil
}

// openVault opens the encryption keyset named by the configuration (PGO_KEYSET_FILE,
// PGO_MASTER_KEY): the one place where serve, worker and the other commands get
// their *vault.Vault, so that every process applies the same checks. A keyset
// problem is a configuration error: one line naming the setting, exit code 2.
func openVault(cfg *config.Config) (*vault.Vault, error) {
	opts, err := masterKeyOption(cfg)
	if err != nil {
		return nil, err
	}
	v, err := vault.Open(cfg.Vault.KeysetFile, opts...)
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo: configuration: " + err.Error()}
	}
	return v, nil
}

func masterKeyOption(cfg *config.Config) ([]vault.Option, error) {
	if cfg.Vault.MasterKey == "" {
		return nil, nil
	}
	key, err := vault.DecodeMasterKey(cfg.Vault.MasterKey)
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo: configuration: " + err.Error()}
	}
	return []vault.Option{vault.WithMasterKey(key)}, nil
}

func keysInit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	path, opts, err := keysetArgs(e, fs, args, "out")
	if err != nil {
		return err
	}
	k, err := vault.CreateKeyset(path, opts...)
	if err != nil {
		return &exitError{code: 1, msg: "pgo keys init: " + err.Error()}
	}
	protection := "cleartext, mode 0600"
	if len(opts) > 0 {
		protection = "encrypted with PGO_MASTER_KEY, mode 0600"
	}
	fmt.Fprintf(e.stdout, "created keyset %s (%s) with primary key %d (%s)\n", path, protection, k.ID, k.Type)
	fmt.Fprintf(e.stdout, "set PGO_KEYSET_FILE=%s for serve and worker; back the file up: without it stored data cannot be read\n", path)
	return nil
}

func keysRotate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	stage := fs.Bool("stage", false, "add the new key without making it primary (step 1 of a rotation across instances)")
	promote := fs.Uint("promote", 0, "make this existing key `ID` primary (step 2 of a rotation across instances)")
	path, opts, err := keysetArgs(e, fs, args, "keyset")
	if err != nil {
		return err
	}
	var k vault.KeyInfo
	switch {
	case *stage && *promote != 0:
		return usageError(fs, "--stage and --promote are two separate steps; give one")
	case *promote > math.MaxUint32:
		return usageError(fs, "--promote %d is not a key id", *promote)
	case *stage:
		k, err = vault.StageKey(path, opts...)
	case *promote != 0:
		k, err = vault.PromoteKey(path, uint32(*promote), opts...)
	default:
		k, err = vault.RotateKeyset(path, opts...)
	}
	if err != nil {
		return &exitError{code: 1, msg: "pgo keys rotate: " + err.Error()}
	}
	switch {
	case *stage:
		fmt.Fprintf(e.stdout, "added key %d to %s, not primary yet\n", k.ID, path)
		fmt.Fprintf(e.stdout, "restart every pgo process that uses this keyset, then run: pgo keys rotate --keyset %s --promote %d\n", path, k.ID)
	case *promote != 0:
		fmt.Fprintf(e.stdout, "made key %d the primary of %s\n", k.ID, path)
		fmt.Fprintln(e.stdout, "restart every pgo process that uses this keyset, then let the re-encrypt task move old objects to the new key")
	default:
		fmt.Fprintf(e.stdout, "added key %d to %s and made it primary; the old keys stay for reading\n", k.ID, path)
		fmt.Fprintln(e.stdout, "restart every pgo process that uses this keyset, then let the re-encrypt task move old objects to the new key")
	}
	return nil
}

func keysInfo(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	path, opts, err := keysetArgs(e, fs, args, "keyset")
	if err != nil {
		return err
	}
	keys, err := vault.ReadKeysetInfo(path, opts...)
	if err != nil {
		return &exitError{code: 1, msg: "pgo keys info: " + err.Error()}
	}
	// The vault refuses a cleartext file when a master key is given and the other way
	// round, so a successful read tells which one the file is.
	encrypted := len(opts) > 0
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			File      string          `json:"file"`
			Encrypted bool            `json:"encrypted"`
			Keys      []vault.KeyInfo `json:"keys"`
		}{path, encrypted, keys})
	}
	protection := "cleartext, mode 0600"
	if encrypted {
		protection = "encrypted with PGO_MASTER_KEY"
	}
	fmt.Fprintf(e.stdout, "keyset %s (%s)\n", path, protection)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tSTATUS\tPRIMARY\tTYPE")
	for _, k := range keys {
		primary := ""
		if k.Primary {
			primary = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", k.ID, k.Status, primary, k.Type)
	}
	return tw.Flush()
}
