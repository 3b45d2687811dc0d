package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeMedMijLists boots the real server with generated MedMij lists: /readyz
// includes them and /metrics publishes their Volgnummer. A broken ZAL file keeps
// the server up but /readyz answers 503 naming the lists.
func TestServeMedMijLists(t *testing.T) {
	certs := devCerts(t, "localhost")
	lists := t.TempDir()
	code, out, errOut := runCLI(t, nil, "", "zal", "generate", "--out", lists, "--volgnummer", "42",
		"--instance", "noord=https://noord.localhost", "--instance", "zuid=https://zuid.localhost")
	if code != 0 {
		t.Fatalf("zal generate: %d %s %s", code, out, errOut)
	}
	files := map[string]string{}
	entries, _ := os.ReadDir(lists)
	for _, e := range entries {
		files[e.Name()] = filepath.Join(lists, e.Name())
	}
	vars := serveVars(t, certs)
	for name, file := range files {
		switch {
		case strings.Contains(name, "Zorgaanbieders"):
			vars["PGO_ZAL_FILE"] = file
		case strings.Contains(name, "OAuthclient"):
			vars["PGO_OCL_FILE"] = file
		case strings.Contains(name, "Gegevensdienst"):
			vars["PGO_GNL_FILE"] = file
		case strings.Contains(name, "Whitelist"):
			vars["PGO_WHITELIST_FILE"] = file
		}
	}
	if len(vars) < 4 || vars["PGO_ZAL_FILE"] == "" || vars["PGO_OCL_FILE"] == "" || vars["PGO_WHITELIST_FILE"] == "" {
		t.Fatalf("generate wrote %v", files)
	}
	p := startPGO(t, vars, "listening on https://", "serve")
	ops := &http.Client{Timeout: 10 * time.Second}
	resp, body := get(t, ops, p.OpsURL(t)+"/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "medmij-lists") {
		t.Fatalf("readyz with valid lists: %d %s", resp.StatusCode, body)
	}
	_, metrics := get(t, ops, p.OpsURL(t)+"/metrics", nil)
	if !strings.Contains(metrics, `pgo_medmij_list_volgnummer{list="zal"} 42`) {
		t.Fatalf("metrics lack the ZAL Volgnummer:\n%s", grepLines(metrics, "medmij"))
	}

	bad := filepath.Join(t.TempDir(), "zal.xml")
	if err := os.WriteFile(bad, []byte("<Zorgaanbiederslijst>"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars2 := serveVars(t, certs)
	vars2["PGO_ZAL_FILE"] = bad
	p2 := startPGO(t, vars2, "listening on https://", "serve")
	resp, body = get(t, ops, p2.OpsURL(t)+"/readyz", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "medmij-lists") {
		t.Fatalf("readyz with a broken ZAL: %d %s", resp.StatusCode, body)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
