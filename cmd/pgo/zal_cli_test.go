package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/zal"
)

func TestZALGenerateCheckShow(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, nil, "", "zal", "generate", "--out", dir, "--lenient-ports", "--volgnummer", "5",
		"--instance", "zuid=https://zuid.localhost:9443", "--instance", "noord=https://noord.localhost:8443",
		"--client", "zuid.localhost=PGO Zuid", "--client", "noord.localhost=PGO Noord")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	var files []string
	for _, k := range zal.Kinds {
		p := filepath.Join(dir, zal.FileNames[k])
		files = append(files, p)
		if !strings.Contains(out, "wrote "+p) {
			t.Errorf("generate did not report %s:\n%s", p, out)
		}
	}

	code, out, errOut = runCLI(t, nil, "", append([]string{"zal", "check", "--lenient-ports"}, files...)...)
	if code != 0 || strings.Count(out, ": ok: ") != 4 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"ZAL list, Volgnummer 5", "(release3), 2 providers, 2 qualified sources for gegevensdienst 51",
		"OCL list, Volgnummer 5", "2 clients", "GNL list", "1 gegevensdiensten", "WHITELIST list", "2 nodes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}

	// Strict by default: the generated demo ZAL carries a port on the authorization endpoint.
	code, out, errOut = runCLI(t, nil, "", "zal", "check", files[0])
	if code != 1 || !strings.Contains(out, `line 16: <AuthorizationEndpointuri>: "https://zuid.localhost:9443/oauth/authorize" is not a front-channel URI`) ||
		!strings.Contains(errOut, "1 of 1 files have errors") {
		t.Fatalf("strict check: exit %d\n%s%s", code, out, errOut)
	}

	vars := map[string]string{"PGO_ZAL_FILE": files[0], "PGO_LISTS_LENIENT_PORTS": "true"}
	code, out, errOut = runCLI(t, vars, "", "zal", "show", "--gegevensdienst", "51")
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "noord@medmij  noord~51  https://noord.localhost:8443/oauth/authorize") ||
		!strings.HasPrefix(lines[3], "zuid@medmij") || !strings.Contains(lines[3], "https://zuid.localhost:9443/51/fhir") {
		t.Fatalf("show output:\n%s", out)
	}
	code, out, _ = runCLI(t, vars, "", "zal", "show", "--search", "zui")
	if code != 0 || !strings.Contains(out, "1 qualified sources") || strings.Contains(out, "noord@medmij") {
		t.Fatalf("show --search:\n%s", out)
	}
}

func TestZALCheckReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join("..", "..", "zal", "testdata", "ocl.xml")
	bad := filepath.Join(dir, "bad.xml")
	trunc := filepath.Join(dir, "trunc.xml")
	data, err := os.ReadFile(filepath.Join("..", "..", "zal", "testdata", "whitelist.xml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bad, []byte(strings.Replace(string(data), "<Volgnummer>9</Volgnummer>", "", 1)), 0o600)
	os.WriteFile(trunc, data[:len(data)/2], 0o600)
	code, out, errOut := runCLI(t, nil, "", "zal", "check", good, bad, trunc, filepath.Join(dir, "missing.xml"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		good + ": ok: OCL list, Volgnummer 12",
		bad + ": error: line 5: <Volgnummer>: required element is missing in <Whitelist> (found <MedMijNodes> instead)",
		trunc + ": error: line 4: <Whitelist>: file is truncated: element opened on line 2 is not closed",
		"missing.xml: error: reading the list file failed: no such file or directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "3 of 4 files have errors") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestZALUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, []string{"zal"}, 2, "subcommands:"},
		{"unknown subcommand", nil, []string{"zal", "list"}, 2, `unknown subcommand "list"`},
		{"check without files", nil, []string{"zal", "check"}, 2, "name at least one FILE"},
		{"show without ZAL", nil, []string{"zal", "show"}, 2, "set PGO_ZAL_FILE or PGO_ZAL_URL"},
		{"show with broken ZAL", map[string]string{"PGO_ZAL_FILE": "../../zal/testdata/gnl.xml"}, []string{"zal", "show"}, 1, "expected a zal list, got a gnl list"},
		{"generate without instance", nil, []string{"zal", "generate", "--out", t.TempDir()}, 2, "at least one --instance"},
		{"generate bad instance", nil, []string{"zal", "generate", "--out", t.TempDir(), "--instance", "noord"}, 2, "want NAME=BASEURL"},
		{"generate with port, strict", nil, []string{"zal", "generate", "--out", t.TempDir(), "--instance", "noord=https://noord.localhost:8443"}, 1,
			"has a port, but the ZAL forbids a port on the authorization endpoint"},
		{"generate bad name", nil, []string{"zal", "generate", "--out", t.TempDir(), "--instance", "Noord2=https://noord.example.nl"}, 1,
			`"Noord2@medmij" does not match the pattern [a-z]+@medmij`},
	} {
		code, out, errOut := runCLI(t, tc.vars, "", tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%s: exit %d, output:\n%s%s", tc.name, code, out, errOut)
		}
	}
}

// `pgo zal check` accepts a release3 ZAL as MedMij and MinVWS publish it (xsi
// attributes on the root; MaximaleDuur in days) and still refuses one that breaks
// the schema, with its line and reason (issue 12).
func TestZALCheckPublishedShapes(t *testing.T) {
	xsi := filepath.Join("..", "..", "zal", "testdata", "zal3-xsi.xml")
	days := filepath.Join("..", "..", "zal", "testdata", "zal3-days.xml")
	code, out, errOut := runCLI(t, nil, "", "zal", "check", xsi, days)
	if code != 0 || strings.Count(out, ": ok: ") != 2 || !strings.Contains(out, "Volgnummer 412") || !strings.Contains(out, "Volgnummer 413") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(days)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "zal-bad.xml")
	os.WriteFile(bad, []byte(strings.Replace(string(data), "<MaximaleDuur>90<", "<MaximaleDuur>90 dagen<", 1)), 0o600)
	code, out, errOut = runCLI(t, nil, "", "zal", "check", xsi, bad)
	if code != 1 || !strings.Contains(out, `line 22: <MaximaleDuur>: "90 dagen" is neither a number of days nor an xs:duration`) ||
		!strings.Contains(errOut, "1 of 2 files have errors") {
		t.Fatalf("bad duration: exit %d\n%s%s", code, out, errOut)
	}
}
