package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pgo-koppelvlak/pgo/vault"
)

var keysSigningKeyCmd = &command{
	name:    "signing-key",
	summary: "Create the instance's ES256 signing key (audit checkpoints), or print its public JWKS.",
	usage:   "--out FILE | --jwks",
	run:     runSigningKey,
}

// runSigningKey writes a new P-256 key to --out (mode 0600, never over an existing
// file), or prints the public JWKS of the key in PGO_SIGNING_KEY (--jwks), which an
// auditor needs to check checkpoints without the private key.
func runSigningKey(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	out := fs.String("out", "", "file to write the new PEM key to (must not exist)")
	jwks := fs.Bool("jwks", false, "print the public JWKS of the key in PGO_SIGNING_KEY")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "takes no arguments")
	}
	switch {
	case *out != "" && *jwks, *out == "" && !*jwks:
		return usageError(fs, "give exactly one of --out FILE or --jwks")
	case *jwks:
		cfg, err := loadConfig(e)
		if err != nil {
			return err
		}
		k, err := vault.LoadSigningKey(cfg.Vault.SigningKey)
		if err != nil {
			return err
		}
		b, err := k.PublicJWKSJSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	k, err := vault.WriteSigningKeyFile(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote signing key %s (kid %s); set PGO_SIGNING_KEY=%s\n", *out, k.KeyID(), *out)
	return nil
}
