package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
)

// `pgo demo` (issue 13): two complete PGOs side by side on loopback, "PGO Noord"
// (noord.localhost) and "PGO Zuid" (zuid.localhost), each with its own
// PostgreSQL database, Redis DB number, keys, `pgo serve` and `pgo worker`
// (this binary, as child processes), over HTTPS with mutual TLS from a development
// CA, with generated MedMij lists and seeded users. State lives in --dir and is
// reused by the next run; --reset starts from nothing. DEVELOPMENT ONLY.

var demoCmd = &command{
	name:    "demo",
	summary: "DEVELOPMENT ONLY: run two PGOs (Noord, Zuid) side by side with seeded users; 'pgo demo totp USER' prints a login code.",
	usage:   "[--dir DIR] [--reset] [--json-out FILE] [--dossier medmij|standard] [--noord-port N] [--zuid-port N] | totp USER",
	run:     runDemo,
}

var demoTotpCmd = &command{
	name:    "totp",
	summary: "Print the login code (TOTP) that USER's current authenticator accepts now.",
	usage:   "[--dir DIR] USER",
	run:     runDemoTotp,
}

// demoOptions are the flags of `pgo demo`.
type demoOptions struct {
	dir, jsonOut, dossier, postgres, dbPrefix string
	redis                                     [2]string
	ports                                     [2]int
	portSet                                   [2]bool
	reset                                     bool
}

// The Redis DBs of the demo's two instances by default, beside the bench's 12 and
// 13: outside the DBs the tests claim and flush (storetest.RedisFirstDB to
// RedisLastDB, 1..11), so a test run never flushes a running demo's queue
// (TestRedisDefaultsOutsideTestDBs).
const (
	demoNoordRedisDB = 14
	demoZuidRedisDB  = 15
)

func (o *demoOptions) flags(e *env, fs *flag.FlagSet) {
	fs.StringVar(&o.dir, "dir", ".demo", "state directory (certificates, keys, lists, passwords, logs)")
	fs.BoolVar(&o.reset, "reset", false, "start from nothing: drop both databases, flush both Redis DBs, remove --dir")
	fs.StringVar(&o.jsonOut, "json-out", "", "also write the URLs, CA file and logins as JSON to this file")
	fs.StringVar(&o.dossier, "dossier", "medmij", "the Noord patient's dossier: medmij (MedMij's test patient) or standard (generated)")
	fs.StringVar(&o.postgres, "postgres", envOr(e, "PGO_DEMO_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server URL used to create the two databases")
	fs.StringVar(&o.dbPrefix, "db-prefix", "pgo_demo", "database names: PREFIX_noord and PREFIX_zuid")
	fs.StringVar(&o.redis[0], "noord-redis", fmt.Sprintf("redis://127.0.0.1:6379/%d", demoNoordRedisDB), "Redis URL (with DB number) of PGO Noord")
	fs.StringVar(&o.redis[1], "zuid-redis", fmt.Sprintf("redis://127.0.0.1:6379/%d", demoZuidRedisDB), "Redis URL (with DB number) of PGO Zuid")
	fs.IntVar(&o.ports[0], "noord-port", 8443, "HTTPS port of PGO Noord (0: a free one)")
	fs.IntVar(&o.ports[1], "zuid-port", 9443, "HTTPS port of PGO Zuid (0: a free one)")
}

func runDemo(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 && args[0] == "totp" {
		return dispatch(ctx, e, demoTotpCmd, "demo totp", args[1:])
	}
	o := demoOptions{}
	o.flags(e, fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	if o.dossier != "medmij" && o.dossier != "standard" {
		return usageError(fs, "--dossier: want medmij or standard")
	}
	fs.Visit(func(f *flag.Flag) {
		o.portSet[0] = o.portSet[0] || f.Name == "noord-port"
		o.portSet[1] = o.portSet[1] || f.Name == "zuid-port"
	})
	start := time.Now()
	d, err := prepareDemo(ctx, e, o)
	if err != nil {
		return err
	}
	return d.run(ctx, e, start)
}

func envOr(e *env, name, def string) string {
	if v, ok := e.getenv(name); ok && v != "" {
		return v
	}
	return def
}

// runDemoTotp prints the code USER's current authenticator accepts now. It reads
// the seed from the instance's database, so it follows a re-enrolment.
func runDemoTotp(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := fs.String("dir", ".demo", "the demo's state directory")
	pos, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "takes exactly one USER")
	}
	st, err := loadDemoState(*dir)
	if err != nil {
		return err
	}
	u, inst := st.user(pos[0])
	if u == nil {
		return &exitError{code: 1, msg: fmt.Sprintf("pgo demo totp: no demo user %q (one of %s)", pos[0], strings.Join(st.userNames(), ", "))}
	}
	ie := &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stderr, getenv: st.lookup(*dir, inst)}
	a, err := openApp(ctx, ie, "demo totp", e.stderr, needDB|needVault)
	if err != nil {
		return err
	}
	defer a.Close()
	svc, _, err := a.accounts(ctx)
	if err != nil {
		return err
	}
	code, err := svc.DemoCode(ctx, u.Name, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, code)
	return nil
}

// demoJSON is what --json-out writes (issue 13's shape).
type demoJSON struct {
	Instances []demoJSONInstance `json:"instances"`
	Users     []demoJSONUser     `json:"users"`
}

type demoJSONInstance struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	CA   string `json:"ca"`
}

type demoJSONUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Instance string `json:"instance"`
	Role     string `json:"role"`
}

// summary writes --json-out first (so it is complete when the ready line shows)
// and then the short block for people.
func (d *demo) summary(e *env, took time.Duration) error {
	ca, _ := filepath.Abs(d.caFile())
	var j demoJSON
	for _, inst := range d.st.Instances {
		j.Instances = append(j.Instances, demoJSONInstance{Name: inst.Name, URL: inst.url(), CA: ca})
	}
	for _, u := range d.st.Users {
		j.Users = append(j.Users, demoJSONUser{Name: u.Name, Password: u.Password, Instance: d.st.instance(u.Instance).Name, Role: u.Role})
	}
	if d.o.jsonOut != "" {
		b, err := json.MarshalIndent(j, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileMode(d.o.jsonOut, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	w := e.stdout
	fmt.Fprintf(w, "\npgo demo ready in %s (DEVELOPMENT ONLY). Ctrl-C stops both PGOs.\n\n", took.Round(time.Millisecond))
	for _, inst := range j.Instances {
		fmt.Fprintf(w, "  %-10s %s\n", inst.Name, inst.URL)
	}
	fmt.Fprintf(w, "  %-10s", "readiness")
	for _, inst := range d.st.Instances {
		fmt.Fprintf(w, " http://127.0.0.1:%d/readyz", inst.OpsPort)
	}
	fmt.Fprintf(w, "\n\n  Trust this CA in your browser (or accept the warning): %s\n\n", ca)
	for _, u := range j.Users {
		fmt.Fprintf(w, "  %-8s %-14s password %-24s at %s\n", u.Role, u.Name, u.Password, u.Instance)
	}
	fmt.Fprintf(w, "\n  Login code (second factor): %s demo totp USER%s\n", os.Args[0], dirFlag(d.dir))
	fmt.Fprintf(w, "  Logs: %s\n\n", filepath.Join(d.dir, "*", "*.log"))
	return nil
}

func dirFlag(dir string) string {
	if dir == ".demo" {
		return ""
	}
	return " --dir " + dir
}

// roleOf parses a stored role name.
func roleOf(s string) account.Role {
	if s == string(account.RoleAuditor) {
		return account.RoleAuditor
	}
	return account.RolePatient
}
