package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/store"
)

// `pgo bench` (issue 16): whole transfers, token requests and downloads driven
// through the real HTTP endpoints of two real instances (started as `pgo demo`
// starts them, or already running), with the figures the targets are read
// from. DEVELOPMENT ONLY: it creates patients and consents in the instances.

var benchCmd = &command{
	name:    "bench",
	summary: "DEVELOPMENT ONLY: measure whole transfers, the token endpoint and downloads on two real PGOs.",
	usage:   "transfer|token|download|soak [flags]",
	subs:    []*command{benchTransferCmd, benchTokenCmd, benchDownloadCmd, benchSoakCmd},
}

// benchOptions are the flags every bench command shares.
type benchOptions struct {
	dir, postgres, dbPrefix, noordURL, zuidURL, dossier string
	redis                                               [2]string
	count, concurrency                                  int
	serves, workers                                     int // processes per instance (issue 17: scale-out)
	taskCheck                                           time.Duration
	json                                                bool
}

// The Redis DBs of the bench's two instances by default (flushed), beside the
// demo's 14 and 15: outside the DBs the tests claim and flush
// (storetest.RedisFirstDB to RedisLastDB, 1..11), so neither flushes the other
// (TestRedisDefaultsOutsideTestDBs).
const (
	benchNoordRedisDB = 12
	benchZuidRedisDB  = 13
)

func (o *benchOptions) flags(fs *flag.FlagSet, count, concurrency int) {
	fs.StringVar(&o.dir, "dir", ".bench", "state directory of the two instances (as pgo demo --dir); with --noord/--zuid: the running demo's --dir")
	fs.StringVar(&o.postgres, "postgres", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server URL for the two databases")
	fs.StringVar(&o.dbPrefix, "db-prefix", "pgo_bench", "database names: PREFIX_noord and PREFIX_zuid (dropped and made again)")
	fs.StringVar(&o.redis[0], "noord-redis", fmt.Sprintf("redis://127.0.0.1:6379/%d", benchNoordRedisDB), "Redis URL (with DB number) of PGO Noord (flushed)")
	fs.StringVar(&o.redis[1], "zuid-redis", fmt.Sprintf("redis://127.0.0.1:6379/%d", benchZuidRedisDB), "Redis URL (with DB number) of PGO Zuid (flushed)")
	fs.StringVar(&o.noordURL, "noord", "", "use the running PGO Noord at this URL (pgo demo --dir DIR) instead of starting one")
	fs.StringVar(&o.zuidURL, "zuid", "", "use the running PGO Zuid at this URL (with --noord)")
	fs.StringVar(&o.dossier, "dossier", "standard", "the patients' dossier: standard (~300 resources) or large (~10,000)")
	fs.IntVar(&o.count, "count", count, "how many")
	fs.IntVar(&o.concurrency, "concurrency", concurrency, "how many at a time")
	fs.IntVar(&o.serves, "serve", 1, "pgo serve processes per instance (each its own port; the first is the public URL)")
	fs.IntVar(&o.workers, "workers", 1, "pgo worker processes per instance")
	fs.DurationVar(&o.taskCheck, "task-check-interval", 0, "the started workers' PGO_WORKER_TASK_CHECK_INTERVAL (0: their default)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
}

func (o *benchOptions) check(fs *flag.FlagSet) error {
	if fs.NArg() != 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	}
	if o.dossier != string(dossier.SizeStandard) && o.dossier != string(dossier.SizeLarge) {
		return usageError(fs, "--dossier: want standard or large")
	}
	if o.count < 1 || o.concurrency < 1 || o.serves < 1 || o.workers < 1 {
		return usageError(fs, "--count, --concurrency, --serve and --workers must be at least 1")
	}
	if (o.noordURL == "") != (o.zuidURL == "") {
		return usageError(fs, "--noord and --zuid go together")
	}
	if o.taskCheck < 0 || (o.taskCheck != 0 && o.noordURL != "") {
		return usageError(fs, "--task-check-interval: a positive duration, for the workers the bench starts (not with --noord)")
	}
	return nil
}

// benchRig is the two instances under test: their state, the child processes
// (when the bench started them) and an App of each for seeding and login codes.
type benchRig struct {
	dir    string
	st     *demoState
	procs  []*demoProc
	serves []benchServe // every pgo serve process, by instance in order
	apps   map[string]*App
	accts  map[string]*account.Service
	stop   func()
	log    io.Writer
	// hub, when started (startHub), wakes waitTransfer on Zuid's transfer
	// NOTIFYs instead of a poll every 20 ms; stopHub ends it.
	hub     *store.Hub
	stopHub func()
}

// benchVars are settings the bench gives the instances it starts on top of the
// demo's: one address logs in hundreds of scripted patients, which the per-IP
// login throttle (30 per window by default) would refuse; and the token bench
// prepares its codes before it times them, which may take longer than the
// default code lifetime of 60 s.
var benchVars = map[string]string{"PGO_LOGIN_IP_LIMIT": "100000", "PGO_CODE_LIFETIME": "10m"}

// openBench parses a bench command's flags (with its default count and
// concurrency) and starts its rig: the one preamble of every `pgo bench`
// command (checks: the command's own flag checks). The caller closes the rig.
func openBench(ctx context.Context, e *env, fs *flag.FlagSet, args []string, count, concurrency int, workers bool, checks ...func(*flag.FlagSet) error) (*benchRig, benchOptions, error) {
	var o benchOptions
	o.flags(fs, count, concurrency)
	if err := parse(fs, args); err != nil {
		return nil, o, err
	}
	for _, check := range append([]func(*flag.FlagSet) error{o.check}, checks...) {
		if err := check(fs); err != nil {
			return nil, o, err
		}
	}
	if !workers {
		o.workers = 0
	}
	r, err := startRig(ctx, e, o)
	return r, o, err
}

// startRig starts two fresh instances as `pgo demo` does (new databases, flushed
// Redis DBs, new keys), or attaches to the running ones of --dir: o.workers
// worker (0: only `pgo serve`, for the token bench, so no render competes for
// the CPU) and o.serves serve processes per instance.
func startRig(ctx context.Context, e *env, o benchOptions) (*benchRig, error) {
	r := &benchRig{dir: o.dir, apps: map[string]*App{}, accts: map[string]*account.Service{}, stop: func() {}, log: e.stderr}
	if o.noordURL != "" {
		st, err := loadDemoState(o.dir)
		if err != nil {
			return nil, err
		}
		r.st = st
		for _, pair := range [][2]string{{"noord", o.noordURL}, {"zuid", o.zuidURL}} {
			if inst := st.instance(pair[0]); inst == nil || strings.TrimSuffix(pair[1], "/") != inst.issuer() {
				return nil, &exitError{code: 2, msg: fmt.Sprintf("pgo bench: --%s %s is not the %s of the demo state in %s", pair[0], pair[1], pair[0], o.dir)}
			}
		}
		return r, r.openApps(ctx)
	}
	if err := benchReset(ctx, o); err != nil {
		return nil, err
	}
	do := demoOptions{dir: o.dir, dossier: "standard", postgres: o.postgres, dbPrefix: o.dbPrefix,
		redis: o.redis, portSet: [2]bool{true, true}}
	fmt.Fprintln(e.stderr, "[pgo bench] preparing two instances (as pgo demo does)")
	d, err := prepareDemo(ctx, &env{stdout: e.stderr, stderr: io.Discard, getenv: e.getenv}, do)
	if err != nil {
		return nil, err
	}
	r.st = d.st
	var urls []string
	for _, inst := range d.st.Instances {
		urls = append(urls, inst.Redis)
	}
	release := claimRedisDBs(ctx, e.stderr, urls)
	r.stop = func() { stopProcs(r.procs, 30*time.Second); release() }
	if err := r.startInstances(ctx, d, o); err != nil {
		r.Close()
		return nil, err
	}
	return r, r.openApps(ctx)
}

// benchReset starts from nothing whatever is left from an earlier run: both
// databases of the prefix and their application roles dropped, both Redis DBs
// flushed, --dir removed.
func benchReset(ctx context.Context, o benchOptions) error {
	conn, err := pgx.Connect(ctx, o.postgres)
	if err != nil {
		return &exitError{code: 1, msg: "pgo bench: PostgreSQL (--postgres): " + err.Error()}
	}
	defer conn.Close(ctx)
	for _, k := range []string{"noord", "zuid"} {
		name := o.dbPrefix + "_" + k
		if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "drop role if exists "+pgx.Identifier{name + "_app"}.Sanitize()); err != nil {
			return err
		}
	}
	for _, u := range o.redis {
		if opt, err := redis.ParseURL(u); err == nil {
			rc := redis.NewClient(opt)
			_ = rc.FlushDB(ctx).Err()
			rc.Close()
		}
	}
	return os.RemoveAll(o.dir)
}

// openApps opens each instance's App (database and vault) in this process, as
// `pgo demo totp` does. The bench itself appends audit records only through
// withApp (one App at a time: the audit chain keys are process-wide).
func (r *benchRig) openApps(ctx context.Context) error {
	for i := range r.st.Instances {
		inst := &r.st.Instances[i]
		a, err := openApp(ctx, &env{stdout: io.Discard, stderr: io.Discard, getenv: r.st.lookup(r.dir, inst)}, "bench", discard{}, needDB|needVault)
		if err != nil {
			r.Close()
			return err
		}
		r.apps[inst.Key] = a
		if r.accts[inst.Key], _, err = a.accounts(ctx); err != nil {
			r.Close()
			return err
		}
	}
	return nil
}

func (r *benchRig) Close() {
	if r.stopHub != nil {
		r.stopHub()
		r.stopHub = nil
	}
	for _, a := range r.apps {
		a.Close()
	}
	r.apps = map[string]*App{}
	r.stop()
	r.stop = func() {}
}

func (r *benchRig) issuer(key string) string { return r.st.instance(key).issuer() }
func (r *benchRig) caFile() string           { return filepath.Join(r.dir, "certs", "ca.pem") }

// code is the login code of user at instance key now (as `pgo demo totp`).
func (r *benchRig) code(ctx context.Context, key, user string) (string, error) {
	return r.accts[key].DemoCode(ctx, user, time.Now())
}

// benchPatient is one scripted person with an account at both instances.
type benchPatient struct {
	noord, zuid, password, noordID string
}

// patients creates n people with an account at Noord holding a generated
// dossier of size and one at Zuid (a login code is single-use, so each
// transfer gets its own person). It opens one instance's App at a time, since
// account creation and import append audit records.
func (r *benchRig) patients(ctx context.Context, n int, size dossier.Size) ([]benchPatient, error) {
	raw, err := dossier.Generate(size, 1)
	if err != nil {
		return nil, err
	}
	in, err := dossier.ReadInput(raw)
	if err != nil {
		return nil, err
	}
	run := time.Now().UnixNano() % 1e9
	ps := make([]benchPatient, n)
	for i := range ps {
		ps[i] = benchPatient{noord: fmt.Sprintf("bench-%d-%d@noord", run, i), zuid: fmt.Sprintf("bench-%d-%d@zuid", run, i), password: demoPassword()}
	}
	for _, key := range []string{"noord", "zuid"} {
		a := r.apps[key]
		auditKeys(a)
		var mu sync.Mutex
		err := parallel(ctx, n, 2, func(i int) error {
			p := &ps[i]
			name := p.zuid
			if key == "noord" {
				name = p.noord
			}
			en, err := r.accts[key].Create(ctx, name, account.RolePatient, p.password, account.Client{})
			if err != nil {
				return err
			}
			if key != "noord" {
				return nil
			}
			mu.Lock()
			p.noordID = en.Account.ID
			mu.Unlock()
			_, err = a.dossiers().Import(ctx, en.Account.ID, in, dossier.ImportOptions{ActorType: "system", ActorID: "bench"})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("seeding %s: %w", key, err)
		}
	}
	return ps, nil
}

// parallel runs fn(0..n-1), at most conc at a time, and returns the first error.
func parallel(ctx context.Context, n, conc int, fn func(i int) error) error {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// procStat is one child's CPU time and peak RSS from /proc (Linux) and the
// round trips it sent to PostgreSQL (pgo_db_round_trips_total on its operations
// listener; -1 when it has none).
type procStat struct {
	Name       string  `json:"name"`
	CPU        float64 `json:"cpu_s"`
	PeakMB     float64 `json:"peak_rss_mb"`
	RoundTrips float64 `json:"db_round_trips"`
}

// benchName is the bench's own row in the per-process figures.
const benchName = "pgo bench (patients, peer client)"

func (r *benchRig) procStats() []procStat {
	var out []procStat
	for _, p := range r.procs {
		cpu, peak := readProc(p.cmd.Process.Pid)
		trips := -1.0
		if p.ops != 0 {
			trips = scrapeMetric(context.Background(), p.ops, "pgo_db_round_trips_total")
		}
		out = append(out, procStat{Name: p.name, CPU: cpu, PeakMB: peak, RoundTrips: trips})
	}
	cpu, peak := readProc(os.Getpid())
	var trips uint64
	for _, a := range r.apps {
		if a.DB != nil {
			trips += a.DB.RoundTrips()
		}
	}
	return append(out, procStat{Name: benchName, CPU: cpu, PeakMB: peak, RoundTrips: float64(trips)})
}
