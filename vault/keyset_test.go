package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
)

// writeTinkKeyset writes a cleartext keyset made from template (a wrong kind for us).
func writeTinkKeyset(t *testing.T, path string, kt *tinkpb.KeyTemplate) {
	t.Helper()
	h, err := keyset.NewHandle(kt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func masterKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestOpenKeysetErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name string, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(dir, "good.json")
	if _, err := CreateKeyset(good); err != nil {
		t.Fatal(err)
	}
	goodData, _ := os.ReadFile(good)
	wrapped := filepath.Join(dir, "wrapped.json")
	if _, err := CreateKeyset(wrapped, WithMasterKey(masterKey(1))); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]*tinkpb.KeyTemplate{
		"streaming.json": streamingaead.AES256GCMHKDF1MBKeyTemplate(),
		"mac.json":       mac.HMACSHA256Tag256KeyTemplate(),
		"sign.json":      signature.ECDSAP256KeyTemplate(),
		"aes128.json":    aead.AES128GCMKeyTemplate(),
		"raw.json":       aead.AES256GCMNoPrefixKeyTemplate(),
		"chacha.json":    aead.ChaCha20Poly1305KeyTemplate(),
	}
	for name, kt := range kinds {
		writeTinkKeyset(t, filepath.Join(dir, name), kt)
	}
	tests := []struct {
		name   string
		path   string
		master []byte
		want   string
	}{
		{"not set", "", nil, "PGO_KEYSET_FILE: not set"},
		{"missing", filepath.Join(dir, "nope.json"), nil, "file does not exist (create it with `pgo keys init"},
		{"directory", dir, nil, "is not a regular file"},
		{"unreadable", filepath.Join(good, "x"), nil, "cannot read: not a directory"},
		{"world readable", file("open.json", string(goodData), 0o644), nil, "mode 0644 lets group or others at the keys; run `chmod 600"},
		{"group writable", file("group.json", string(goodData), 0o620), nil, "mode 0620"},
		{"empty", file("empty.json", "", 0o600), nil, "is not a tink JSON keyset (invalid JSON at byte 0)"},
		{"garbage", file("garbage.json", "\x00\x01binary garbage", 0o600), nil, "is not a tink JSON keyset (invalid JSON at byte 1)"},
		{"PEM", file("key.pem", "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", 0o600), nil, "invalid JSON"},
		{"JSON array", file("array.json", `[1,2]`, 0o600), nil, "want a JSON object"},
		{"JSON without keys", file("nokeys.json", `{"primaryKeyId":1}`, 0o600), nil, `no "key" list`},
		{"broken key entry", file("broken.json", `{"primaryKeyId":1,"key":[{"keyId":1,"status":"ENABLED"}]}`, 0o600), nil, "is not a valid tink keyset"},
		{"streaming keyset", filepath.Join(dir, "streaming.json"), nil, "AesGcmHkdfStreamingKey, want AES-256-GCM (the wrong kind of keyset"},
		{"MAC keyset", filepath.Join(dir, "mac.json"), nil, "HmacKey, want AES-256-GCM"},
		{"signature keyset", filepath.Join(dir, "sign.json"), nil, "EcdsaPrivateKey, want AES-256-GCM"},
		{"ChaCha keyset", filepath.Join(dir, "chacha.json"), nil, "ChaCha20Poly1305Key, want AES-256-GCM"},
		{"AES-128 keyset", filepath.Join(dir, "aes128.json"), nil, "is not a 256-bit AES-GCM key"},
		{"RAW prefix", filepath.Join(dir, "raw.json"), nil, "has output prefix RAW, want TINK"},
		{"encrypted, no master key", wrapped, nil, "is encrypted with a master key; set PGO_MASTER_KEY"},
		{"cleartext, master key set", good, masterKey(1), "is not encrypted, but PGO_MASTER_KEY is set"},
		{"wrong master key", wrapped, masterKey(2), "cannot decrypt with PGO_MASTER_KEY (wrong master key"},
		{"short master key", wrapped, []byte("short"), "PGO_MASTER_KEY: has 5 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path, WithMasterKey(tt.master))
			if err == nil {
				t.Fatalf("Open(%s) succeeded, want error %q", tt.path, tt.want)
			}
			msg := err.Error()
			if !errors.Is(err, ErrKeyset) || !strings.Contains(msg, tt.want) {
				t.Fatalf("Open error = %q\nwant it to contain %q and wrap ErrKeyset", msg, tt.want)
			}
			if !strings.HasPrefix(msg, "PGO_KEYSET_FILE: ") && !strings.HasPrefix(msg, "PGO_MASTER_KEY: ") {
				t.Fatalf("error %q does not start with the setting to fix", msg)
			}
			if _, err := ReadKeysetInfo(tt.path, WithMasterKey(tt.master)); err == nil {
				t.Fatal("ReadKeysetInfo accepted what Open refused")
			}
			if _, err := RotateKeyset(tt.path, WithMasterKey(tt.master)); err == nil {
				t.Fatal("RotateKeyset accepted what Open refused")
			}
		})
	}
}

func TestKeysetErrorsHoldNoKeyMaterial(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyset.json")
	if _, err := CreateKeyset(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	// Damage the JSON after the key value, and open it too wide: neither error may
	// repeat the file's content.
	i := bytes.Index(data, []byte(`"value"`))
	if i < 0 {
		t.Fatalf("keyset has no value field: %s", data)
	}
	bad := append(bytes.Clone(data[:len(data)-2]), "}}}"...)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil {
		t.Fatal("damaged keyset opened")
	}
	value := data[i+9 : i+29]
	if strings.Contains(err.Error(), string(value)) {
		t.Fatalf("error repeats key material: %v", err)
	}
}

func TestCreateKeyset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		master []byte
		marker string // in the file
	}{
		{"cleartext", nil, `"primaryKeyId"`},
		{"with master key", masterKey(7), `"encryptedKeyset"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys", "keyset.json")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			info, err := CreateKeyset(path, WithMasterKey(tt.master))
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("keyset mode = %v, %v; want 0600", st.Mode(), err)
			}
			data, _ := os.ReadFile(path)
			if !bytes.Contains(data, []byte(tt.marker)) {
				t.Fatalf("keyset file lacks %s", tt.marker)
			}
			before := data
			if _, err := CreateKeyset(path, WithMasterKey(tt.master)); err == nil || !strings.Contains(err.Error(), "file exists; refusing to overwrite") {
				t.Fatalf("second CreateKeyset: %v, want refusal", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("refused CreateKeyset still changed the file")
			}
			rot, err := RotateKeyset(path, WithMasterKey(tt.master))
			if err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(tt.marker)) {
				t.Fatalf("rotated keyset lost %s", tt.marker)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Fatalf("rotated keyset mode = %v, want 0600", st.Mode())
			}
			infos, err := ReadKeysetInfo(path, WithMasterKey(tt.master))
			if err != nil || len(infos) != 2 || infos[0].ID != info.ID || infos[0].Primary || !infos[1].Primary || infos[1].ID != rot.ID {
				t.Fatalf("info after rotate = %+v, %v", infos, err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Fatalf("directory holds %d entries, want only the keyset (no temp files left)", len(entries))
			}
		})
	}
}

func TestCreateKeysetErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		master []byte
		want   string
	}{
		{"no path", "", nil, "PGO_KEYSET_FILE: no file given"},
		{"missing directory", filepath.Join(dir, "no", "keyset.json"), nil, "cannot write: no such file or directory"},
		{"bad master key", filepath.Join(dir, "k.json"), []byte("0123456789"), "PGO_MASTER_KEY: has 10 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CreateKeyset(tt.path, WithMasterKey(tt.master))
			if err == nil || !errors.Is(err, ErrKeyset) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CreateKeyset error = %v, want %q", err, tt.want)
			}
			if tt.path != "" {
				if _, err := os.Stat(tt.path); err == nil {
					t.Fatal("failed CreateKeyset left a file")
				}
			}
		})
	}
}

func TestDecodeMasterKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb}, 32)
	tests := []struct {
		name, in string
		ok       bool
		want     string
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), true, ""},
		{"std with newline", base64.StdEncoding.EncodeToString(raw) + "\n", true, ""},
		{"raw std", base64.RawStdEncoding.EncodeToString(raw), true, ""},
		{"url", base64.URLEncoding.EncodeToString(raw), true, ""},
		{"raw url", base64.RawURLEncoding.EncodeToString(raw), true, ""},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16]), false, "decodes to 16 bytes, want 32"},
		{"not base64", "secret-passphrase!", false, "is not base64"},
		{"empty", "", false, "decodes to 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMasterKey(tt.in)
			if tt.ok {
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("DecodeMasterKey = %x, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrKeyset) {
				t.Fatalf("DecodeMasterKey error = %v, want %q", err, tt.want)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatal("error repeats the master key")
			}
		})
	}
}

func TestOpenWithMasterKeyRoundTrip(t *testing.T) {
	t.Parallel()
	_, v := newKeyset(t, WithMasterKey(masterKey(3)))
	ct, err := v.Seal("doc", []byte("Vaccinatie: BMR"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Open("doc", ct); err != nil || string(got) != "Vaccinatie: BMR" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}
