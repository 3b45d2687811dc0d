package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// runCLI runs `pgo args...` in-process with the given environment. Where the
// environment names a database but no application role, pgo migrate would create
// the default role pgo_app and leave it in the cluster: the test gets a role of
// its own instead, dropped when it ends.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if _, set := vars["PGO_DB_APP_ROLE"]; !set && vars["PGO_DATABASE_URL"] != "" {
		vars = maps.Clone(vars)
		vars["PGO_DB_APP_ROLE"] = testAppRole(t, vars["PGO_DATABASE_URL"])
	}
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// testAppRoles are the roles testAppRole made, by test.
var testAppRoles sync.Map

// testAppRole names the application role of t's pgo migrate runs against url
// (one per test, as a test may migrate twice) and drops it when t ends.
func testAppRole(t *testing.T, url string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(t.Name()))
	role := "pgo_app_t" + hex.EncodeToString(sum[:6])
	if _, made := testAppRoles.LoadOrStore(t, role); !made {
		t.Cleanup(func() {
			ctx := context.Background()
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				return // no database, so no role either
			}
			defer c.Close(ctx)
			var exists bool
			if err := c.QueryRow(ctx, "select exists (select from pg_roles where rolname = $1)", role).Scan(&exists); err != nil || !exists {
				return
			}
			for _, q := range []string{"drop owned by " + role, "drop role " + role} {
				if _, err := c.Exec(ctx, q); err != nil {
					t.Errorf("dropping the test's application role: %s: %v", q, err)
				}
			}
		})
	}
	return role
}

func appliedVersion(t *testing.T, url string) (version int32, tables int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "select version from schema_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "select count(*) from schema_version").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	return version, tables
}

func TestMigrateTwice(t *testing.T) {
	url := storetest.EmptySchema(t)
	latest, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PGO_DATABASE_URL": url}
	code, out, errOut := runCLI(t, vars, "", "migrate")
	if code != 0 || !strings.Contains(out, "migrated database from 0 to") {
		t.Fatalf("first migrate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, vars, "", "migrate")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second migrate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if v, rows := appliedVersion(t, url); v != latest || rows != 1 {
		t.Fatalf("version %d in %d rows; want %d in 1 row", v, rows, latest)
	}
}

// TestMigrateOverUnixSocket: PGO_DATABASE_URL may name the server's Unix socket
// in the host parameter (postgres://user@/db?host=/dir), as libpq and pgx allow;
// the configuration used to refuse any URL without a host in its authority.
// The connection really goes over the socket: inet_server_addr() is null there.
func TestMigrateOverUnixSocket(t *testing.T) {
	tcp := storetest.EmptySchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, tcp)
	if err != nil {
		t.Fatal(err)
	}
	var dirs string
	err = conn.QueryRow(ctx, "show unix_socket_directories").Scan(&dirs)
	conn.Close(ctx)
	dir, _, _ := strings.Cut(dirs, ",")
	if err != nil || strings.TrimSpace(dir) == "" {
		t.Fatalf("the test server has no Unix socket directory (%q, %v)", dirs, err)
	}
	u, err := url.Parse(tcp)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ""
	q := u.Query()
	q.Set("host", strings.TrimSpace(dir))
	u.RawQuery = q.Encode()
	socket := u.String()

	code, out, errOut := runCLI(t, map[string]string{"PGO_DATABASE_URL": socket}, "", "migrate")
	if code != 0 || !strings.Contains(out, "migrated database from 0 to") {
		t.Fatalf("migrate over %s: exit %d, stdout %q, stderr %q", socket, code, out, errOut)
	}
	latest, _ := store.LatestVersion()
	if v, rows := appliedVersion(t, tcp); v != latest || rows != 1 {
		t.Fatalf("version %d in %d rows; want %d in 1 row", v, rows, latest)
	}
	db, err := store.Open(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var addr *string
	if err := db.Pool.QueryRow(ctx, "select inet_server_addr()::text").Scan(&addr); err != nil || addr != nil {
		t.Fatalf("inet_server_addr() = %v (%v); want null over the Unix socket", addr, err)
	}
}

// TestMigrateTwoProcessesAtOnce starts two real processes that migrate the same
// empty schema at the same moment; tern's advisory lock must make one wait.
func TestMigrateTwoProcessesAtOnce(t *testing.T) {
	url := storetest.EmptySchema(t)
	role := testAppRole(t, url)
	latest, _ := store.LatestVersion()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPgoProcess$")
			cmd.Env = append(os.Environ(), "PGO_HELPER_ARGS=migrate", "PGO_DATABASE_URL="+url, "PGO_DB_APP_ROLE="+role)
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if v, rows := appliedVersion(t, url); v != latest || rows != 1 {
		t.Fatalf("version %d in %d rows; want %d in 1 row", v, rows, latest)
	}
	joined := outs[0] + outs[1]
	if strings.Count(joined, "migrated database from 0") != 1 {
		t.Fatalf("want exactly one process to apply the migrations:\n%s", joined)
	}
}

// TestHelperPgoProcess runs `pgo $PGO_HELPER_ARGS` as a child process of the tests
// above, with the real environment; it does nothing when run directly.
func TestHelperPgoProcess(t *testing.T) {
	args := os.Getenv("PGO_HELPER_ARGS")
	if args == "" {
		t.Log("child process helper; nothing to do in the parent")
		return
	}
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.LookupEnv}
	os.Exit(run(context.Background(), e, strings.Fields(args)))
}

// pgo migrate creates the application role (issue 15) and says so; pgo serve
// connected as that role does not warn, connected as a superuser it warns.
func TestMigrateCreatesTheAppRole(t *testing.T) {
	ctx := context.Background()
	url := storetest.EmptySchema(t)
	role := "pgo_app_cli_test"
	vars := map[string]string{"PGO_DATABASE_URL": url, "PGO_DB_APP_ROLE": role, "PGO_DB_APP_PASSWORD": "not-a-real-secret-1"}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err == nil {
			defer c.Close(context.Background())
			_, _ = c.Exec(context.Background(), "drop owned by "+role)
			_, _ = c.Exec(context.Background(), "drop role "+role)
		}
	})
	code, out, errOut := runCLI(t, vars, "", "migrate")
	if code != 0 || !strings.Contains(out, "application role "+role) {
		t.Fatalf("migrate: exit %d %q %q", code, out, errOut)
	}
	appURL := strings.Replace(url, "postgres:postgres@", role+":not-a-real-secret-1@", 1)
	for _, tc := range []struct {
		url  string
		warn bool
	}{{appURL, false}, {url, true}} {
		var log bytes.Buffer
		e := &env{stderr: io.Discard, getenv: func(k string) (string, bool) {
			if k == "PGO_DATABASE_URL" {
				return tc.url, true
			}
			return "", false
		}}
		a, err := openApp(ctx, e, "serve", &log, needDB)
		if err != nil {
			t.Fatal(err)
		}
		a.warnSuperuser()
		a.Close()
		if got := strings.Contains(log.String(), "as a superuser"); got != tc.warn {
			t.Errorf("connected as %s: warned %v; want %v", strings.SplitN(strings.TrimPrefix(tc.url, "postgres://"), ":", 2)[0], got, tc.warn)
		}
	}
}
