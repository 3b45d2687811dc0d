package dossier

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// lowerLimits sets the input limits for one test.
func lowerLimits(t *testing.T, bytes int64, entries int) {
	t.Helper()
	old := limits
	limits.bytes, limits.entries = bytes, entries
	t.Cleanup(func() { limits = old })
}

// basics is a collection Bundle of n Basic resources, the last with a code text
// of pad bytes.
func basics(t *testing.T, n, pad int) []byte {
	t.Helper()
	entries := make([]map[string]any, n)
	for i := range entries {
		text := "x"
		if i == n-1 {
			text = strings.Repeat("x", pad)
		}
		entries[i] = map[string]any{"resource": map[string]any{"resourceType": "Basic", "id": fmt.Sprint("b", i), "code": map[string]string{"text": text}}}
	}
	b, err := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, name string, err error, code, msg string) {
	t.Helper()
	if pgo.ErrorCode(err) != code || !strings.Contains(pgo.ErrorMessage(err), msg) {
		t.Fatalf("%s: err = %v, want %s %q", name, err, code, msg)
	}
}

// The byte and entry limits bound what is read, not what a stat announces: a
// Bundle file that grows (or gains entries) after ReadPath counted it is refused
// when the import reads it again, and input over the limits is refused by
// ReadInput, ReadPath and a directory's total.
func TestInputLimitsBoundTheRead(t *testing.T) {
	lowerLimits(t, 4096, 20)
	dir := t.TempDir()
	file := filepath.Join(dir, "bundle.json")
	writeFile(t, file, basics(t, 5, 1))
	in, err := ReadPath(file)
	if err != nil || in.size() != 5 {
		t.Fatalf("small file: %v, %d entries", err, in.size())
	}
	// the file grows after ReadPath: the import's read is bounded again
	writeFile(t, file, basics(t, 5, 8192))
	wantErr(t, "grown", in.each(func(fhir.Entry) error { return nil }), pgo.ETOOLARGE, "bundle.json is larger than 4096 bytes")
	// it gains entries after ReadPath (within the bytes)
	writeFile(t, file, basics(t, 21, 1))
	wantErr(t, "more entries", in.each(func(fhir.Entry) error { return nil }), pgo.ETOOLARGE, "bundle.json holds more than 20 entries")

	_, err = ReadPath(file)
	wantErr(t, "file entries", err, pgo.ETOOLARGE, "bundle.json holds more than 20 entries")
	_, err = ReadInput(basics(t, 21, 1))
	wantErr(t, "memory entries", err, pgo.ETOOLARGE, "the Bundle holds more than 20 entries")
	big := basics(t, 19, 4096)
	writeFile(t, file, big)
	_, err = ReadPath(file)
	wantErr(t, "file bytes", err, pgo.ETOOLARGE, "bundle.json is larger than 4096 bytes")
	_, err = ReadInput(big)
	wantErr(t, "memory bytes", err, pgo.ETOOLARGE, "the input is larger than 4096 bytes")

	// a directory: its files' bytes together, and the number of its files
	loose := filepath.Join(dir, "loose")
	os.Mkdir(loose, 0o700)
	for i := range 3 {
		writeFile(t, filepath.Join(loose, fmt.Sprint(i, ".json")), []byte(`{"resourceType":"Basic","code":{"text":"`+strings.Repeat("x", 1500)+`"}}`))
	}
	_, err = ReadPath(loose)
	wantErr(t, "directory bytes", err, pgo.ETOOLARGE, "loose holds more than 4096 bytes")
	lowerLimits(t, 1<<20, 2)
	_, err = ReadPath(loose)
	wantErr(t, "directory entries", err, pgo.ETOOLARGE, "loose holds more than 2 entries")
}

// A named pipe announces size 0 to stat and can be read only once (a Bundle
// file is read twice): it is refused as not a regular file, before it is opened
// (an open would wait for a writer).
func TestReadPathRefusesNamedPipe(t *testing.T) {
	lowerLimits(t, 4096, 20)
	fifo := filepath.Join(t.TempDir(), "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal("mkfifo:", err)
	}
	// A writer with more than the limit; it waits until the pipe is opened for reading.
	data := basics(t, 5, 8192)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		w.Write(data)
	}()
	t.Cleanup(func() {
		// release the writer if nothing opened the pipe: hold a reader open
		// until it has written
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			defer r.Close()
		}
		<-done
	})
	_, err := ReadPath(fifo)
	wantErr(t, "pipe", err, pgo.EINVALID, "pipe.json is not a regular file")
	// inside a directory of loose resources too
	dir := filepath.Dir(fifo)
	_, err = ReadPath(dir)
	wantErr(t, "pipe in a directory", err, pgo.EINVALID, "pipe.json is not a regular file")
}
