package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/vault"
)

// keysCLI runs `pgo args...` in-process with only the given environment variables.
func keysCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

type keysetJSON struct {
	File      string          `json:"file"`
	Encrypted bool            `json:"encrypted"`
	Keys      []vault.KeyInfo `json:"keys"`
}

func keysInfoJSON(t *testing.T, vars map[string]string, path string) keysetJSON {
	t.Helper()
	code, out, errOut := keysCLI(t, vars, "keys", "info", "--json", "--keyset", path)
	if code != 0 {
		t.Fatalf("keys info: exit %d, stderr %q", code, errOut)
	}
	var got keysetJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("keys info --json: %v in %q", err, out)
	}
	return got
}

// TestKeysInitRotateInfo walks the operator's path: init, seal, rotate, check that old
// data opens and new data uses the new key, with and without a master key.
func TestKeysInitRotateInfo(t *testing.T) {
	master := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	tests := []struct {
		name string
		vars map[string]string
		opts []vault.Option
	}{
		{"cleartext", map[string]string{}, nil},
		{"master key", map[string]string{"PGO_MASTER_KEY": master}, []vault.Option{vault.WithMasterKey(bytes.Repeat([]byte{0x42}, 32))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyset.json")
			code, out, errOut := keysCLI(t, tt.vars, "keys", "init", "--out", path)
			if code != 0 || !strings.Contains(out, "created keyset "+path) {
				t.Fatalf("keys init: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("keyset mode %v, %v; want 0600", st.Mode(), err)
			}
			first := keysInfoJSON(t, tt.vars, path)
			if len(first.Keys) != 1 || !first.Keys[0].Primary || first.Encrypted != (tt.opts != nil) || first.File != path {
				t.Fatalf("info after init: %+v", first)
			}
			v1, err := vault.Open(path, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			old, _ := v1.Seal("doc-1", []byte("Probleem: astma"))

			code, out, errOut = keysCLI(t, tt.vars, "keys", "rotate", "--keyset", path)
			if code != 0 {
				t.Fatalf("keys rotate: exit %d, stderr %q", code, errOut)
			}
			newID := keyIDFrom(t, out, `added key (\d+) to`)
			info := keysInfoJSON(t, tt.vars, path)
			if len(info.Keys) != 2 || info.Keys[0].ID != first.Keys[0].ID || info.Keys[0].Primary ||
				info.Keys[1].ID != newID || !info.Keys[1].Primary {
				t.Fatalf("info after rotate: %+v; want old key %d and new primary %d", info, first.Keys[0].ID, newID)
			}
			v2, err := vault.Open(path, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := v2.Open("doc-1", old); err != nil || string(got) != "Probleem: astma" {
				t.Fatalf("old data after rotate: %q, %v", got, err)
			}
			fresh, _ := v2.Seal("doc-2", []byte("nieuw"))
			if id, _ := vault.KeyID(fresh); id != newID {
				t.Fatalf("new data key id %d, want %d", id, newID)
			}
		})
	}
}

func keyIDFrom(t *testing.T, out, pattern string) uint32 {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output %q does not match %s", out, pattern)
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

func TestKeysInfoTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	vars := map[string]string{"PGO_KEYSET_FILE": path}
	if code, _, errOut := keysCLI(t, vars, "keys", "init"); code != 0 {
		t.Fatalf("keys init with PGO_KEYSET_FILE: exit %d, %q", code, errOut)
	}
	code, out, errOut := keysCLI(t, vars, "keys", "info")
	if code != 0 {
		t.Fatalf("keys info: exit %d, %q", code, errOut)
	}
	data, _ := os.ReadFile(path)
	var raw struct {
		Key []struct {
			KeyData struct{ Value string } `json:"keyData"`
		} `json:"key"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || len(raw.Key) != 1 {
		t.Fatalf("keyset file: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "keyset "+path+" (cleartext, mode 0600)" || !strings.HasPrefix(lines[1], "KEY ID") || !strings.Contains(lines[2], "enabled  yes") {
		t.Fatalf("keys info table:\n%s", out)
	}
	if strings.Contains(out, raw.Key[0].KeyData.Value) || strings.Contains(out, raw.Key[0].KeyData.Value[:12]) {
		t.Fatal("keys info prints key material")
	}
}

func TestKeysErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.json")
	if _, err := vault.CreateKeyset(existing); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(existing)
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("not a keyset"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.json")
	if err := os.WriteFile(open, before, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	shortKey := map[string]string{"PGO_MASTER_KEY": base64.StdEncoding.EncodeToString([]byte("too short"))}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string
	}{
		{"init refuses overwrite", nil, []string{"keys", "init", "--out", existing}, 1, "pgo keys init: PGO_KEYSET_FILE: " + existing + ": file exists; refusing to overwrite"},
		{"init without file", nil, []string{"keys", "init"}, 2, "no keyset file: give --out FILE or set PGO_KEYSET_FILE"},
		{"init extra argument", nil, []string{"keys", "init", "--out", missing, "extra"}, 2, `unexpected argument "extra"`},
		{"rotate missing", nil, []string{"keys", "rotate", "--keyset", missing}, 1, "file does not exist (create it with `pgo keys init --out " + missing},
		{"rotate garbage", nil, []string{"keys", "rotate", "--keyset", garbage}, 1, "is not a tink JSON keyset"},
		{"info too open", nil, []string{"keys", "info", "--keyset", open}, 1, "mode 0644 lets group or others at the keys"},
		{"info without file", nil, []string{"keys", "info"}, 2, "give --keyset FILE or set PGO_KEYSET_FILE"},
		{"bad master key", shortKey, []string{"keys", "info", "--keyset", existing}, 2, "PGO_MASTER_KEY: decodes to 9 bytes, want 32"},
		{"master key on cleartext", map[string]string{"PGO_MASTER_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))},
			[]string{"keys", "info", "--keyset", existing}, 1, "is not encrypted, but PGO_MASTER_KEY is set"},
		{"unknown subcommand", nil, []string{"keys", "destroy"}, 2, `unknown subcommand "destroy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := keysCLI(t, tt.vars, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q (stdout %q)", code, errOut, tt.code, tt.want, out)
			}
			if strings.Contains(errOut, "goroutine") {
				t.Fatalf("stderr shows a stack: %q", errOut)
			}
		})
	}
	if after, _ := os.ReadFile(existing); !bytes.Equal(before, after) {
		t.Fatal("a refused command changed the existing keyset")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a refused command created a keyset")
	}
}

// TestKeysStagedRotation: `rotate --stage` then `rotate --promote ID`, the rotation
// for several instances sharing one keyset.
func TestKeysStagedRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyset.json")
	if code, _, errOut := keysCLI(t, nil, "keys", "init", "--out", path); code != 0 {
		t.Fatalf("keys init: %q", errOut)
	}
	first := keysInfoJSON(t, nil, path).Keys[0].ID
	code, out, errOut := keysCLI(t, nil, "keys", "rotate", "--stage", "--keyset", path)
	if code != 0 {
		t.Fatalf("rotate --stage: exit %d, %q", code, errOut)
	}
	staged := keyIDFrom(t, out, `added key (\d+) to .*, not primary yet`)
	if !strings.Contains(out, "--promote "+strconv.FormatUint(uint64(staged), 10)) {
		t.Fatalf("rotate --stage does not say how to promote: %q", out)
	}
	info := keysInfoJSON(t, nil, path)
	if len(info.Keys) != 2 || !info.Keys[0].Primary || info.Keys[0].ID != first || info.Keys[1].Primary {
		t.Fatalf("after --stage: %+v; want %d still primary", info.Keys, first)
	}
	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--stage", "--promote", "5"}, 2, "two separate steps"},
		{[]string{"--promote", "12345"}, 1, "has no enabled key 12345"},
		{[]string{"--promote", "99999999999"}, 2, "is not a key id"},
		{[]string{"--promote", "x"}, 2, "invalid value"},
	}
	for _, b := range bad {
		args := append([]string{"keys", "rotate", "--keyset", path}, b.args...)
		if code, _, errOut := keysCLI(t, nil, args...); code != b.code || !strings.Contains(errOut, b.want) {
			t.Errorf("rotate %v: exit %d, %q; want exit %d and %q", b.args, code, errOut, b.code, b.want)
		}
	}
	code, out, errOut = keysCLI(t, nil, "keys", "rotate", "--keyset", path, "--promote", strconv.FormatUint(uint64(staged), 10))
	if code != 0 || keyIDFrom(t, out, `made key (\d+) the primary`) != staged {
		t.Fatalf("rotate --promote: exit %d, %q, %q", code, out, errOut)
	}
	info = keysInfoJSON(t, nil, path)
	if len(info.Keys) != 2 || info.Keys[0].Primary || !info.Keys[1].Primary || info.Keys[1].ID != staged {
		t.Fatalf("after --promote: %+v; want %d primary", info.Keys, staged)
	}
}

// TestOpenVault: the helper serve and worker use; a keyset problem is one
// configuration line with exit code 2.
func TestOpenVault(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keyset.json")
	if _, err := vault.CreateKeyset(good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vars map[string]string
		want string // empty: opens
	}{
		{"good", map[string]string{"PGO_KEYSET_FILE": good}, ""},
		{"not set", map[string]string{}, "pgo: configuration: PGO_KEYSET_FILE: not set"},
		{"missing", map[string]string{"PGO_KEYSET_FILE": filepath.Join(dir, "x.json")}, "file does not exist"},
		{"master key on cleartext", map[string]string{"PGO_KEYSET_FILE": good,
			"PGO_MASTER_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))}, "is not encrypted, but PGO_MASTER_KEY is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{getenv: func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok }}
			cfg, err := loadConfig(e)
			if err != nil {
				t.Fatal(err)
			}
			v, err := openVault(cfg)
			if tt.want == "" {
				if err != nil || v == nil {
					t.Fatalf("openVault: %v", err)
				}
				return
			}
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, tt.want) || strings.Contains(ee.msg, "\n") {
				t.Fatalf("openVault error = %v; want exit 2 with one line containing %q", err, tt.want)
			}
		})
	}
}
