package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/store"
)

// `pgo user add|list|lock|unlock`: operators manage accounts (issue 6). The password is
// read from standard input, never from an argument (arguments show up in ps and in
// shell history). The TOTP seeds are sealed with the vault, so every `pgo user`
// command needs the keyset (PGO_KEYSET_FILE); each one first seals the seeds that a
// database from before migration 007 still holds in the clear.

var userCmd = &command{
	name:    "user",
	summary: "Manage login accounts: add (password from stdin), list, lock, unlock. Needs PGO_KEYSET_FILE: TOTP seeds are sealed.",
	usage:   "SUBCOMMAND [flags]",
	subs:    []*command{userAddCmd, userListCmd, userLockCmd, userUnlockCmd},
}

// Each subcommand has its own usage, so `pgo user list --help` explains list and
// not add (issue 13).
var (
	userAddCmd = &command{name: "add", usage: "NAME [--role patient|auditor] [--qr FILE] < password",
		summary: "Create an account; the password is read from standard input; prints the TOTP enrolment once.", run: runUserAdd}
	userListCmd = &command{name: "list", usage: "",
		summary: "List the accounts with role, login kind and state (a temporary lock with its end time and zone).", run: runUserList}
	userLockCmd = &command{name: "lock", usage: "NAME",
		summary: "Lock an account until 'pgo user unlock' and end its sessions.", run: runUserLock}
	userUnlockCmd = &command{name: "unlock", usage: "NAME",
		summary: "Lift an account's lock (by an operator or after too many failed logins).", run: runUserUnlock}
)

// parseNamed parses flags that may come before or after the positional arguments.
func parseNamed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// oneName parses the flags and the one NAME a subcommand takes.
func oneName(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseNamed(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usageError(fs, "takes exactly one NAME")
	}
	return pos[0], nil
}

func runUserAdd(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	role := fs.String("role", "patient", "role of the new account: patient or auditor")
	qrFile := fs.String("qr", "", "also write the enrolment QR code as PNG to this file")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(svc *account.Service) error { return userAdd(ctx, e, svc, name, *role, *qrFile) })
}

func runUserList(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	pos, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError(fs, "takes no arguments")
	}
	return withAccounts(ctx, e, func(svc *account.Service) error { return userList(ctx, e, svc) })
}

func runUserLock(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(svc *account.Service) error {
		if err := svc.Lock(ctx, name, account.Client{}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s is locked and its sessions have ended ('pgo user unlock %s' lifts it)\n", name, name)
		return nil
	})
}

func runUserUnlock(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	return withAccounts(ctx, e, func(svc *account.Service) error {
		if err := svc.Unlock(ctx, name, account.Client{}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s is unlocked\n", name)
		return nil
	})
}

// withAccounts opens the keyset and the database and runs fn with an account
// service.
func withAccounts(ctx context.Context, e *env, fn func(*account.Service) error) error {
	a, err := openApp(ctx, e, "user", e.stderr, needDB|needVault)
	if err != nil {
		return err
	}
	defer a.Close()
	st := accountdb.New(a.DB, auditdb.Append)
	n, err := st.SealClearSeeds(ctx, a.Vault)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "sealed the TOTP seeds of %d accounts that were stored in the clear (migration 007)\n", n)
	}
	svc, err := account.New(st, a.Vault, account.ConfigFrom(a.Config.Account, a.Config.InstanceName))
	if err != nil {
		return err
	}
	return fn(svc)
}

func userAdd(ctx context.Context, e *env, svc *account.Service, name, roleName, qrFile string) error {
	role, err := account.ParseRole(roleName)
	if err != nil {
		return &exitError{code: 2, msg: "pgo user add: --" + err.Error()}
	}
	password, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	en, err := svc.Create(ctx, name, role, password, account.Client{})
	if err != nil {
		return err
	}
	if qrFile != "" {
		png, err := account.QRCodePNG(en.URI, 320)
		if err != nil {
			return err
		}
		if err := os.WriteFile(qrFile, png, 0o600); err != nil {
			return fmt.Errorf("--qr: %v", err)
		}
	}
	w := e.stdout
	fmt.Fprintf(w, "created %s account %s (id %s)\n\n", role, en.Account.Name, en.Account.ID)
	fmt.Fprintf(w, "Add this to an authenticator app (shown only now):\n%s\n\n", en.URI)
	fmt.Fprintln(w, "Recovery codes, each usable once instead of a TOTP code (shown only now):")
	for _, c := range en.RecoveryCodes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	return nil
}

// readPassword reads the first line of r; the line break is not part of it.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", &exitError{code: 2, msg: "pgo user add: give the password on standard input"}
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from standard input: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", &exitError{code: 2, msg: "pgo user add: give the password on standard input (one line)"}
	}
	return line, nil
}

func userList(ctx context.Context, e *env, svc *account.Service) error {
	list, err := svc.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tLOGIN\tSTATE\tCREATED")
	now := time.Now()
	for _, a := range list {
		login, state := "password+totp", "active"
		if a.OIDCSubject != "" {
			login = "oidc"
		}
		switch {
		case a.Disabled:
			state = "locked"
		case a.LockedUntil.After(now):
			// With its zone: a bare time was read as local when it was UTC (issue 13).
			state = "locked until " + a.LockedUntil.Local().Format(time.DateTime+" MST")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Role, login, state, a.CreatedAt.Local().Format(time.DateOnly))
	}
	return tw.Flush()
}

// sweepSessions deletes expired sessions every few minutes until ctx ends. A
// failure only leaves rows that logins refuse anyway, so it is retried silently at
// the next tick.
func sweepSessions(ctx context.Context, st *accountdb.Store, idle time.Duration) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = st.DeleteExpired(ctx, time.Now(), idle)
		}
	}
}

// accounts is the account service over PostgreSQL and the vault: the same one for
// pgo serve and pgo user. The TOTP seeds are sealed with the keyset
// (PGO_KEYSET_FILE); seeds still in the clear from before migration 007 are
// sealed first.
func (a *App) accounts(ctx context.Context) (*account.Service, *accountdb.Store, error) {
	if a.built.accounts != nil {
		return a.built.accounts, a.built.accountStore, nil
	}
	st := accountdb.New(a.DB, auditdb.Append)
	n, err := st.SealClearSeeds(ctx, a.Vault)
	if err != nil {
		return nil, nil, fmt.Errorf("sealing TOTP seeds stored in the clear: %w", err)
	}
	if n > 0 {
		a.Log.Info("sealed TOTP seeds stored in the clear (migration 007)", "accounts", n)
	}
	svc, err := account.New(st, a.Vault, account.ConfigFrom(a.Config.Account, a.Config.InstanceName))
	if err != nil {
		return nil, nil, err
	}
	a.built.accounts, a.built.accountStore = svc, st
	return svc, st, nil
}

// mountAccount mounts the login, account and audit pages (issue 6), with the
// OIDC login when PGO_OIDC_ISSUER is set, and sweeps expired sessions until ctx
// ends with pgo serve.
func (a *App) mountAccount(ctx context.Context, srv *server.Server) error {
	svc, st, err := a.accounts(ctx)
	if err != nil {
		return err
	}
	deps := server.AccountDeps{Service: svc, Audit: auditLog{a.Audit, a.DB}}
	if deps.OIDC, err = oidcLogin(ctx, a.Config, svc); err != nil {
		return err
	}
	srv.MountAccount(deps)
	go sweepSessions(ctx, st, a.Config.Account.IdleTimeout)
	return nil
}

// oidcLogin returns nil when no external provider is configured.
func oidcLogin(ctx context.Context, cfg *config.Config, svc *account.Service) (*account.OIDC, error) {
	a := cfg.Account
	if a.OIDCIssuer == "" {
		return nil, nil
	}
	if a.OIDCClientID == "" || a.OIDCMinACR == "" {
		return nil, &exitError{code: 2, msg: "pgo: configuration: PGO_OIDC_CLIENT_ID and PGO_OIDC_MIN_ACR are required with PGO_OIDC_ISSUER"}
	}
	var secret string
	if a.OIDCSecretFile != "" {
		b, err := os.ReadFile(a.OIDCSecretFile)
		if err != nil {
			return nil, &exitError{code: 2, msg: "pgo: configuration: PGO_OIDC_CLIENT_SECRET_FILE: " + err.Error()}
		}
		secret = strings.TrimSpace(string(b))
	}
	o, err := svc.NewOIDC(ctx, account.OIDCConfig{
		Issuer: a.OIDCIssuer, ClientID: a.OIDCClientID, ClientSecret: secret, MinACR: a.OIDCMinACR,
		RedirectURL: strings.TrimSuffix(cfg.PublicURL, "/") + "/login/oidc/callback",
	})
	if err != nil {
		return nil, fmt.Errorf("PGO_OIDC_ISSUER: %w", err)
	}
	return o, nil
}

// auditLog gives the audit pages the audit store plus a one-record transaction.
type auditLog struct {
	*auditdb.Store
	db *store.DB
}

func (l auditLog) Record(ctx context.Context, ev audit.Event) error {
	return auditdb.Record(ctx, l.db, ev)
}
