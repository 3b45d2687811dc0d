package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// TestDemo boots `pgo demo --json-out` (two instances, each with its own database,
// Redis DB, keys, server and worker): both answer /healthz over TLS with the demo
// CA (and not without it), every printed login works with its password and the
// code from `pgo demo totp`, the Noord patient holds MedMij's test patient and the
// Zuid one an empty dossier; Ctrl-C stops everything; a second run reuses the
// state, --reset starts afresh.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	prefix := fmt.Sprintf("pgo_demotest_%d", time.Now().UnixNano()%1e9)
	t.Cleanup(func() { dropDemoDatabases(t, prefix) })
	jsonOut := filepath.Join(t.TempDir(), "demo.json")
	args := []string{"demo", "--dir", dir, "--db-prefix", prefix, "--postgres", storetest.BaseURL(),
		"--noord-redis", storetest.Redis(t), "--zuid-redis", storetest.Redis(t), "--json-out", jsonOut}

	p := startPGO(t, nil, "pgo demo ready in ", append(args, "--noord-port", "0", "--zuid-port", "0")...)
	if !regexp.MustCompile(`^\d+(\.\d+)?(ms|s)`).MatchString(p.Addr) {
		t.Errorf("ready line without a duration: %q", p.Addr)
	}
	first := readDemoJSON(t, jsonOut)
	client, err := demoClient(first.Instances[0].CA)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range first.Instances {
		if resp, err := client.Get(inst.URL + "healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s /healthz: %v %v", inst.Name, err, resp)
		}
		if _, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: localhostDial}}).Get(inst.URL + "healthz"); err == nil ||
			!strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: a client without the demo CA got through: %v", inst.Name, err)
		}
	}
	st, err := loadDemoState(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range st.Instances {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", inst.OpsPort))
		if err != nil {
			t.Fatalf("%s readyz: %v", inst.Name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"medmij-lists":"ok"`) {
			t.Errorf("%s readyz: %d %s", inst.Name, resp.StatusCode, b)
		}
	}
	for _, u := range first.Users {
		page := demoLogin(t, client, dir, first, u)
		switch u.Name {
		case "anouk@noord":
			if w := page("/mijn-dossier"); !strings.Contains(w, "Persoonsgegevens") || strings.Count(w, "<tr><td>") < 20 {
				t.Errorf("Noord patient's dossier:\n%.600s", w)
			}
		case "anouk@zuid":
			if w := page("/mijn-dossier"); !strings.Contains(w, "Uw dossier is nog leeg.") {
				t.Errorf("Zuid patient's dossier is not empty:\n%.600s", w)
			}
		default:
			if w := page("/audit"); !strings.Contains(w, "account_created") {
				t.Errorf("%s: audit page:\n%.600s", u.Name, w)
			}
		}
	}
	// Both instances' serve and worker connect as their application role, which
	// cannot rewrite the audit log (issue 15), not as the superuser.
	for i := range st.Instances {
		db, err := store.Open(context.Background(), st.instanceVars(dir, &st.Instances[i])["PGO_DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		super, err := db.IsSuperuser(context.Background())
		db.Close()
		if err != nil || super {
			t.Errorf("%s: processes connect as a superuser (%v)", st.Instances[i].Name, err)
		}
	}
	// Both audit logs (seeding by the demo, logins by the servers) verify with
	// their instance's keys.
	for i := range st.Instances {
		if code, out, errOut := runPGO(t, st.instanceVars(dir, &st.Instances[i]), "audit", "verify"); code != 0 {
			t.Errorf("%s: pgo audit verify: %d\n%s%s", st.Instances[i].Name, code, out, errOut)
		}
	}
	if code, _, errOut := runPGO(t, nil, "demo", "totp", "nobody", "--dir", dir); code != 1 || !strings.Contains(errOut, "no demo user") {
		t.Errorf("totp for an unknown user: %d %s", code, errOut)
	}
	stopDemo(t, p, first)

	// A second run reuses everything: the same URLs and logins.
	p = startPGO(t, nil, "pgo demo ready in ", args...)
	if again := readDemoJSON(t, jsonOut); !sameJSON(again, first) {
		t.Errorf("second run changed the state:\n%+v\n%+v", again, first)
	}
	stopDemo(t, p, first)

	// --reset starts from nothing: new passwords; here with a generated dossier.
	p = startPGO(t, nil, "pgo demo ready in ", append(args, "--reset", "--dossier", "standard", "--noord-port", "0", "--zuid-port", "0")...)
	fresh := readDemoJSON(t, jsonOut)
	if len(fresh.Users) != 4 || fresh.Users[0].Password == first.Users[0].Password {
		t.Errorf("--reset kept the old logins")
	}
	if client, err = demoClient(fresh.Instances[0].CA); err != nil { // a new CA
		t.Fatal(err)
	}
	page := demoLogin(t, client, dir, fresh, fresh.Users[0])
	if w := page("/mijn-dossier"); fresh.Users[0].Name != "anouk@noord" || strings.Count(w, "<tr><td>") < 100 {
		t.Errorf("generated standard dossier at Noord: %d rows", strings.Count(w, "<tr><td>"))
	}
	stopDemo(t, p, fresh)
}

func readDemoJSON(t *testing.T, file string) demoJSON {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var j demoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Instances) != 2 || j.Instances[0].Name != "PGO Noord" || j.Instances[1].Name != "PGO Zuid" ||
		!strings.HasPrefix(j.Instances[0].URL, "https://noord.localhost:") || !strings.HasPrefix(j.Instances[1].URL, "https://zuid.localhost:") ||
		len(j.Users) != 4 {
		t.Fatalf("json: %s", b)
	}
	if _, err := os.Stat(j.Instances[0].CA); err != nil {
		t.Fatalf("CA file: %v", err)
	}
	return j
}

func sameJSON(a, b demoJSON) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func localhostDial(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, localhostAddr(addr))
}

var demoCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// demoLogin logs u in with password and `pgo demo totp` and returns a function
// that fetches a page of u's instance with u's session.
func demoLogin(t *testing.T, base *http.Client, dir string, j demoJSON, u demoJSONUser) func(string) string {
	t.Helper()
	var origin string
	for _, inst := range j.Instances {
		if inst.Name == u.Instance {
			origin = strings.TrimSuffix(inst.URL, "/")
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: base.Transport, Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		resp, err := c.Get(origin + path)
		if err != nil {
			t.Fatalf("%s GET %s: %v", u.Name, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, html.UnescapeString(string(b))
	}
	post := func(path string, form url.Values) *http.Response {
		_, page := get(path)
		m := demoCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s: no CSRF token on %s", u.Name, path)
		}
		form.Set("csrf", m[1])
		resp, err := c.PostForm(origin+path, form)
		if err != nil {
			t.Fatalf("%s POST %s: %v", u.Name, path, err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("/login", url.Values{"name": {u.Name}, "password": {u.Password}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s: password step %d", u.Name, r.StatusCode)
	}
	if r := post("/login/code", url.Values{"code": {"000000"}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: a wrong code got %d", u.Name, r.StatusCode)
	}
	code, out, errOut := runPGO(t, nil, "demo", "totp", u.Name, "--dir", dir)
	if code != 0 || !regexp.MustCompile(`^\d{6}\n$`).MatchString(out) {
		t.Fatalf("pgo demo totp %s: %d %q %s", u.Name, code, out, errOut)
	}
	if r := post("/login/code", url.Values{"code": {strings.TrimSpace(out)}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s: code step %d", u.Name, r.StatusCode)
	}
	if status, page := get("/account"); status != 200 || !strings.Contains(page, u.Name) {
		t.Fatalf("%s: not logged in: %d", u.Name, status)
	}
	return func(path string) string { _, page := get(path); return page }
}

// stopDemo sends SIGINT (Ctrl-C) and checks that the demo exits 0 and that both
// servers are gone.
func stopDemo(t *testing.T, p *pgoProcess, j demoJSON) {
	t.Helper()
	if code := p.Signal(t, syscall.SIGINT, 60*time.Second); code != 0 {
		t.Fatalf("demo exit %d after Ctrl-C\n%s", code, p.Stderr)
	}
	for _, inst := range j.Instances {
		u, _ := url.Parse(inst.URL)
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+u.Port(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listens after Ctrl-C", inst.Name)
		}
	}
}

// dropDemoDatabases drops what a demo (or bench) run made in PostgreSQL: both
// databases, then their app roles (roles belong to the cluster, not to a
// database, so dropping the databases leaves them behind).
func dropDemoDatabases(t *testing.T, prefix string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.BaseURL())
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(ctx)
	for _, k := range []string{"noord", "zuid"} {
		if _, err := conn.Exec(ctx, "drop database if exists "+pgx.Identifier{prefix + "_" + k}.Sanitize()+" with (force)"); err != nil {
			t.Error(err)
		}
		if _, err := conn.Exec(ctx, "drop role if exists "+pgx.Identifier{prefix + "_" + k + "_app"}.Sanitize()); err != nil {
			t.Error(err)
		}
	}
}

// The ports a demo or bench chooses before its processes start lie below the
// kernel's ephemeral range, so no client connection of another process can take
// one as its source port before the instance binds it, and they are free.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	if lo-10000 < 1000 {
		t.Fatalf("ephemeral range starts at %d: no room below it on this machine", lo)
	}
	for range 20 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < 10000 || port >= lo || !portFree(port) {
			t.Fatalf("port %d: want a free port in [10000, %d)", port, lo)
		}
	}
}
