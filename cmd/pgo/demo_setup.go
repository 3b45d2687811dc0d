package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// demo is one run of `pgo demo`.
type demo struct {
	dir string
	o   demoOptions
	st  *demoState
}

func (d *demo) caFile() string { return filepath.Join(d.dir, "certs", "ca.pem") }

// prepareDemo makes (or reuses) everything the two instances need before their
// processes start; every step is safe to repeat.
func prepareDemo(ctx context.Context, e *env, o demoOptions) (*demo, error) {
	d := &demo{dir: o.dir, o: o}
	if o.reset {
		if err := d.reset(ctx); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"state", d.loadOrNewState},
		{"certificates", d.certificates},
		{"keys", d.keys},
		{"MedMij lists", d.lists},
		{"databases", d.databases},
		{"users", d.users},
		{"dossier", d.seedDossier},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(e.stderr, "[pgo demo] %s ready\n", s.name)
	}
	return d, d.st.save(d.dir)
}

// loadOrNewState reuses DIR/state.json, or describes two new instances. Ports
// given on the command line win over stored ones; 0 picks a free port.
func (d *demo) loadOrNewState(context.Context) error {
	st, err := loadDemoState(d.dir)
	if err != nil {
		st = &demoState{}
		for i, k := range []string{"noord", "zuid"} {
			db, err := databaseURL(d.o.postgres, d.o.dbPrefix+"_"+k)
			if err != nil {
				return err
			}
			st.Instances = append(st.Instances, demoInstance{Key: k, Name: "PGO " + titleWord(k), Host: k + ".localhost",
				Port: d.o.ports[i], Database: db, Redis: d.o.redis[i]})
		}
	}
	for i := range st.Instances {
		inst := &st.Instances[i]
		if d.o.portSet[i] {
			inst.Port = d.o.ports[i]
		}
		if inst.Port == 0 {
			if inst.Port, err = freePort(); err != nil {
				return err
			}
		}
		if !portFree(inst.Port) {
			return &exitError{code: 1, msg: fmt.Sprintf("pgo demo: port %d of %s is in use (another demo running? choose --%s-port)", inst.Port, inst.Name, inst.Key)}
		}
		if inst.OpsPort == 0 || !portFree(inst.OpsPort) {
			if inst.OpsPort, err = freePort(); err != nil {
				return err
			}
		}
	}
	d.st = st
	return st.save(d.dir)
}

func titleWord(s string) string { return string(s[0]-'a'+'A') + s[1:] }

// certificates: one development CA, a server and a client certificate per host.
func (d *demo) certificates(context.Context) error {
	dir := filepath.Join(d.dir, "certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := loadOrMakeCA(dir)
	if err != nil {
		return err
	}
	for _, inst := range d.st.Instances {
		if _, err := os.Stat(filepath.Join(dir, inst.Host+"-client-key.pem")); err == nil {
			continue
		}
		if err := ca.issueHost(dir, inst.Host); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "README"), []byte(devCAReadme), 0o644)
}

// keys: an encryption keyset and a signing key per instance.
func (d *demo) keys(context.Context) error {
	for _, inst := range d.st.Instances {
		dir := filepath.Join(d.dir, inst.Key)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		ks := filepath.Join(dir, "keyset.json")
		if _, err := os.Stat(ks); errors.Is(err, os.ErrNotExist) {
			if _, err := vault.CreateKeyset(ks); err != nil {
				return err
			}
		}
		sk := filepath.Join(dir, "signing-key.pem")
		if _, err := os.Stat(sk); errors.Is(err, os.ErrNotExist) {
			if _, err := vault.WriteSigningKeyFile(sk); err != nil {
				return err
			}
		}
	}
	return nil
}

// lists: ZAL (both as APD sources of gegevensdienst 51), OCL (both as clients),
// Whitelist (both hosts) and GNL, written again on every run (the ports may
// have changed; the Volgnummer is the current time, so the new lists win).
func (d *demo) lists(context.Context) error {
	var in zal.GenerateInput
	in.LenientPorts = true
	for _, inst := range d.st.Instances {
		in.Instances = append(in.Instances, zal.Instance{Name: inst.Key, BaseURL: inst.issuer()})
	}
	files, err := zal.Generate(in)
	if err != nil {
		return err
	}
	dir := filepath.Join(d.dir, "lists")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for k, b := range files {
		if err := writeFileMode(filepath.Join(dir, zal.FileNames[k]), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// databases creates each instance's database when missing and migrates it.
func (d *demo) databases(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.o.postgres)
	if err != nil {
		return &exitError{code: 1, msg: "pgo demo: PostgreSQL (--postgres): " + err.Error()}
	}
	defer conn.Close(ctx)
	for i := range d.st.Instances {
		inst := &d.st.Instances[i]
		name := dbName(inst.Database)
		var n int
		if err := conn.QueryRow(ctx, `select count(*) from pg_database where datname = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
		}
		if _, _, err := store.Migrate(ctx, inst.Database); err != nil {
			return fmt.Errorf("%s: %w", inst.Name, err)
		}
		if inst.AppPassword == "" {
			inst.AppPassword = demoPassword()
		}
		if err := store.GrantAppRole(ctx, inst.Database, inst.appRole(), inst.AppPassword); err != nil {
			return fmt.Errorf("%s: application role: %w", inst.Name, err)
		}
	}
	return nil
}

// dbName is the database name in a PostgreSQL URL.
func dbName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(p.Path, "/")
}

// reset drops both databases, flushes both Redis DBs and removes the directory.
func (d *demo) reset(ctx context.Context) error {
	if st, err := loadDemoState(d.dir); err == nil {
		conn, err := pgx.Connect(ctx, d.o.postgres)
		if err != nil {
			return &exitError{code: 1, msg: "pgo demo --reset: PostgreSQL (--postgres): " + err.Error()}
		}
		defer conn.Close(ctx)
		for _, inst := range st.Instances {
			if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{dbName(inst.Database)}.Sanitize()+" with (force)"); err != nil {
				return err
			}
			if _, err := conn.Exec(ctx, "drop role if exists "+pgx.Identifier{inst.appRole()}.Sanitize()); err != nil {
				return err
			}
			if opt, err := redis.ParseURL(inst.Redis); err == nil {
				rc := redis.NewClient(opt)
				_ = rc.FlushDB(ctx).Err()
				rc.Close()
			}
		}
	}
	return os.RemoveAll(d.dir)
}

// withInstance opens instance inst's App (database and vault) for seeding.
func (d *demo) withInstance(ctx context.Context, inst *demoInstance, fn func(*App) error) error {
	ie := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: d.st.lookup(d.dir, inst)}
	a, err := openApp(ctx, ie, "demo", discard{}, needDB|needVault)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// users seeds, once each: the patient at Noord and the same person at Zuid, and
// an auditor at each.
func (d *demo) users(ctx context.Context) error {
	want := []demoUser{
		{Name: "anouk@noord", Instance: "noord", Role: "patient"},
		{Name: "anouk@zuid", Instance: "zuid", Role: "patient"},
		{Name: "auditor@noord", Instance: "noord", Role: "auditor"},
		{Name: "auditor@zuid", Instance: "zuid", Role: "auditor"},
	}
	for _, w := range want {
		if u, _ := d.st.user(w.Name); u != nil {
			continue
		}
		w.Password = demoPassword()
		err := d.withInstance(ctx, d.st.instance(w.Instance), func(a *App) error {
			svc, _, err := a.accounts(ctx)
			if err != nil {
				return err
			}
			en, err := svc.Create(ctx, w.Name, roleOf(w.Role), w.Password, account.Client{})
			if err != nil {
				return err
			}
			w.ID = en.Account.ID
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", w.Name, err)
		}
		d.st.Users = append(d.st.Users, w)
		if err := d.st.save(d.dir); err != nil {
			return err
		}
	}
	return nil
}

// seedDossier imports the Noord patient's dossier once: MedMij's test patient or
// a generated standard dossier (--dossier). Zuid's patient starts empty.
func (d *demo) seedDossier(ctx context.Context) error {
	inst := d.st.instance("noord")
	if inst.Dossier != "" {
		return nil
	}
	u, _ := d.st.user("anouk@noord")
	var in dossier.Input
	var err error
	if d.o.dossier == "standard" {
		var b []byte
		if b, err = dossier.Generate(dossier.SizeStandard, 1); err == nil {
			in, err = dossier.ReadInput(b)
		}
	} else if _, serr := os.Stat(shared.Path("medmij", "bgz-patA")); serr != nil {
		return fmt.Errorf("MedMij's test patient is not at %s (use --dossier standard)", shared.Path("medmij", "bgz-patA"))
	} else {
		in, err = dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	}
	if err != nil {
		return fmt.Errorf("reading the %s dossier: %s", d.o.dossier, pgo.ErrorMessage(err))
	}
	err = d.withInstance(ctx, inst, func(a *App) error {
		_, err := a.dossiers().Import(ctx, u.ID, in, dossier.ImportOptions{ActorType: "system", ActorID: "demo"})
		return err
	})
	if err != nil {
		return err
	}
	inst.Dossier = d.o.dossier
	return d.st.save(d.dir)
}

// discard is an io.Writer that drops what it gets (the seeding steps' JSON log).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
