package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pgo-koppelvlak/pgo/zal"
)

// demoState is what a demo run keeps in DIR/state.json (mode 0600) so the next
// run reuses it: the two instances and the seeded users with their passwords.
type demoState struct {
	Instances []demoInstance `json:"instances"`
	Users     []demoUser     `json:"users"`
}

// demoInstance is one PGO of the demo.
type demoInstance struct {
	Key      string `json:"key"`  // "noord"
	Name     string `json:"name"` // "PGO Noord"
	Host     string `json:"host"` // "noord.localhost"
	Port     int    `json:"port"`
	OpsPort  int    `json:"ops_port"` // /readyz and /metrics (plain HTTP, loopback)
	Database string `json:"database"` // PostgreSQL URL of the owner (migrations)
	// AppPassword is the password of the instance's application role (appRole),
	// as which its pgo serve and pgo worker connect (issue 15).
	AppPassword string `json:"app_password"`
	Redis       string `json:"redis"`   // Redis URL with the DB number
	Dossier     string `json:"dossier"` // what the patient's dossier was seeded with ("" : not yet)
}

// demoUser is one seeded account.
type demoUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Instance string `json:"instance"` // instance key
	Role     string `json:"role"`
	ID       string `json:"id"`
}

// appRole is the instance's least-privilege database role: one per database,
// since a role (and its password) is shared by the whole PostgreSQL cluster.
func (i demoInstance) appRole() string { return dbName(i.Database) + "_app" }

// appDatabase is the URL of the instance's database as its application role.
func (i demoInstance) appDatabase() string {
	u, err := url.Parse(i.Database)
	if err != nil {
		return i.Database
	}
	u.User = url.UserPassword(i.appRole(), i.AppPassword)
	return u.String()
}

func (i demoInstance) issuer() string { return "https://" + i.Host + ":" + strconv.Itoa(i.Port) }
func (i demoInstance) url() string    { return i.issuer() + "/" }

const demoStateFile = "state.json"

func loadDemoState(dir string) (*demoState, error) {
	b, err := os.ReadFile(filepath.Join(dir, demoStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &exitError{code: 1, msg: fmt.Sprintf("pgo demo: no demo state in %s (start 'pgo demo' first)", dir)}
	}
	if err != nil {
		return nil, err
	}
	var st demoState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (start again with 'pgo demo --reset')", filepath.Join(dir, demoStateFile), err)
	}
	return &st, nil
}

func (st *demoState) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileMode(filepath.Join(dir, demoStateFile), append(b, '\n'), 0o600)
}

func (st *demoState) instance(key string) *demoInstance {
	for i := range st.Instances {
		if st.Instances[i].Key == key {
			return &st.Instances[i]
		}
	}
	return nil
}

func (st *demoState) user(name string) (*demoUser, *demoInstance) {
	for i := range st.Users {
		if st.Users[i].Name == name {
			return &st.Users[i], st.instance(st.Users[i].Instance)
		}
	}
	return nil, nil
}

func (st *demoState) userNames() []string {
	var out []string
	for _, u := range st.Users {
		out = append(out, u.Name)
	}
	return out
}

// instanceVars are the settings of one instance's processes. Besides the core
// settings they carry what the consent, FHIR and transfer areas read:
// PGO_PROVIDER_NAME (the ZAL name without @medmij), PGO_CLIENT_REDIRECTS (client host = its
// redirect URI, for every OCL client), PGO_CLIENT_CERT/PGO_CLIENT_KEY (the client
// certificate for outbound mutual TLS), PGO_CLIENT_CA, PGO_SIGNING_KEY.
func (st *demoState) instanceVars(dir string, inst *demoInstance) map[string]string {
	certs := filepath.Join(dir, "certs")
	lists := filepath.Join(dir, "lists")
	own := filepath.Join(dir, inst.Key)
	var redirects []string
	for _, o := range st.Instances {
		redirects = append(redirects, o.Host+"="+o.issuer()+"/oauth/callback")
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	return map[string]string{
		"PGO_DATABASE_URL":          inst.appDatabase(),
		"PGO_REDIS_URL":             inst.Redis,
		"PGO_HTTP_ADDR":             "127.0.0.1:" + strconv.Itoa(inst.Port),
		"PGO_OPS_ADDR":              "127.0.0.1:" + strconv.Itoa(inst.OpsPort),
		"PGO_PUBLIC_URL":            inst.issuer(),
		"PGO_INSTANCE_NAME":         inst.Name,
		"PGO_PROVIDER_NAME":         inst.Key, // the ZAL name without @medmij (consent: scope NAME~51)
		"PGO_CLIENT_REDIRECTS":      strings.Join(redirects, ","),
		"PGO_TLS_CERT":              abs(filepath.Join(certs, inst.Host+".pem")),
		"PGO_TLS_KEY":               abs(filepath.Join(certs, inst.Host+"-key.pem")),
		"PGO_CLIENT_CERT":           abs(filepath.Join(certs, inst.Host+"-client.pem")),
		"PGO_CLIENT_KEY":            abs(filepath.Join(certs, inst.Host+"-client-key.pem")),
		"PGO_CLIENT_CA":             abs(filepath.Join(certs, "ca.pem")),
		"PGO_KEYSET_FILE":           abs(filepath.Join(own, "keyset.json")),
		"PGO_SIGNING_KEY":           abs(filepath.Join(own, "signing-key.pem")),
		"PGO_AUDIT_CHECKPOINT_SINK": abs(filepath.Join(own, "audit-checkpoints.jws")),
		"PGO_ZAL_FILE":              abs(filepath.Join(lists, zal.FileNames[zal.KindZAL])),
		"PGO_OCL_FILE":              abs(filepath.Join(lists, zal.FileNames[zal.KindOCL])),
		"PGO_GNL_FILE":              abs(filepath.Join(lists, zal.FileNames[zal.KindGNL])),
		"PGO_WHITELIST_FILE":        abs(filepath.Join(lists, zal.FileNames[zal.KindWhitelist])),
		"PGO_LISTS_LENIENT_PORTS":   "true",
		"PGO_LOG_LEVEL":             "info",
	}
}

// lookup is the getenv of an instance: its own settings, nothing from the shell.
func (st *demoState) lookup(dir string, inst *demoInstance) func(string) (string, bool) {
	vars := st.instanceVars(dir, inst)
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// childEnviron is the environment of a child process: the shell's without any
// PGO_* setting, plus the instance's.
func childEnviron(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PGO_") {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// freePort returns a loopback port that is free now, for a listener that must
// be known before its process starts (an instance's URL is on the lists). It is
// chosen below the kernel's ephemeral range (ip_local_port_range), where no
// outgoing connection takes a source port: a port from that range (what
// listening on port 0 gives) could be taken by any client connection of another
// process (a parallel test run's) in the seconds before the instance binds it.
// When that range leaves no room below it, the kernel chooses.
func freePort() (int, error) {
	const floor = 10000
	if lo := ephemeralLow(); lo-floor >= 1000 {
		for range 100 {
			if port := floor + mrand.IntN(lo-floor); portFree(port) {
				return port, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < 1024 {
		return 32768
	}
	return lo
}

// portFree reports whether port can be listened on now.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// databaseURL is the server URL with the database name replaced.
func databaseURL(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// demoPassword is a random password of 20 letters and digits (no look-alikes).
func demoPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:5]) + "-" + string(b[5:10]) + "-" + string(b[10:15]) + "-" + string(b[15:])
}
