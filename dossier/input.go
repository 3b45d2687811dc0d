package dossier

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// MaxInputBytes bounds what one import reads (a large dossier is ~30 MB of JSON).
// It bounds the bytes actually read, not the size a stat announces: a named pipe,
// a device or a /proc file announces 0, and a file can grow after its stat.
const MaxInputBytes = 512 << 20

// MaxInputEntries bounds the entries (resources) of one import: within
// MaxInputBytes a Bundle of tiny entries would cost a row, a seal and a
// validation each. The large generated dossier has ~10,000 and the MedMij BgZ test
// patient 55; 100,000 is ten times the large one.
const MaxInputEntries = 100_000

// limits are the bounds in force (tests lower them).
var limits = struct {
	bytes   int64
	entries int
}{MaxInputBytes, MaxInputEntries}

// Input is what an import reads: the entries of one Bundle, or loose resources.
// A Bundle file (ReadPath) is not held in memory: Entries is nil and the import
// reads the file entry by entry.
type Input struct {
	Source     string // "bundle:<type>", "directory" or "resource"
	BundleType string // for a Bundle
	Entries    []fhir.Entry

	path    string       // a Bundle file streamed by each
	count   int          // its number of entries
	samples []fhir.Entry // its first entry of each resource type (version detection)
}

func (in Input) size() int {
	if in.path != "" {
		return in.count
	}
	return len(in.Entries)
}

func (in Input) sample() []fhir.Entry {
	if in.path != "" {
		return in.samples
	}
	return in.Entries
}

// each calls fn with every entry in order; an error of fn ends it.
// A Bundle file is read again here, so its bytes and entries are bounded again:
// it may have changed since ReadPath counted them.
func (in Input) each(fn func(fhir.Entry) error) error {
	if in.path == "" {
		if len(in.Entries) > limits.entries {
			return tooManyEntries("the input")
		}
		for _, e := range in.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	name := filepath.Base(in.path)
	f, err := os.Open(in.path)
	if err != nil {
		return pgo.Wrap(pgo.EINVALID, err, "cannot read "+in.path)
	}
	defer f.Close()
	r := bounded(f, limits.bytes)
	n := 0
	_, err = fhir.ScanBundle(r, func(e fhir.Entry) error {
		if n++; n > limits.entries {
			return tooManyEntries(name)
		}
		return fn(e)
	})
	if r.exceeded() {
		return tooLarge(name, limits.bytes)
	}
	if errors.Is(err, fhir.ErrNotJSON) || errors.Is(err, fhir.ErrNotBundle) {
		return pgo.Errorf(pgo.EINVALID, "%s changed while it was imported", name)
	}
	if _, ok := err.(*fhir.Error); ok {
		return invalid(err)
	}
	return err
}

// all returns every entry in memory (Preview).
func (in Input) all() ([]fhir.Entry, error) {
	if in.path == "" {
		return in.Entries, nil
	}
	var out []fhir.Entry
	err := in.each(func(e fhir.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Bundle reports whether the input is a Bundle (whose references must all resolve).
func (in Input) Bundle() bool { return in.BundleType != "" }

// ReadInput reads a Bundle or a single resource from data. Data that is not one
// JSON object is refused as a whole, saying where it breaks.
func ReadInput(data []byte) (Input, error) {
	if int64(len(data)) > limits.bytes {
		return Input{}, tooLarge("the input", limits.bytes)
	}
	if err := fhir.CheckJSON(data); err != nil {
		return Input{}, invalid(err)
	}
	if fhir.IsBundle(data) {
		typ, entries, err := fhir.ReadBundle(data)
		if err != nil {
			return Input{}, invalid(err)
		}
		if len(entries) > limits.entries {
			return Input{}, tooManyEntries("the Bundle")
		}
		return Input{Source: "bundle:" + typ, BundleType: typ, Entries: entries}, nil
	}
	return Input{Source: "resource", Entries: []fhir.Entry{{Index: 0, JSON: data}}}, nil
}

// ReadPath reads a Bundle file, a single resource file, or a directory of loose
// resources (every *.json file in it, in name order; a Bundle file there is refused).
// Only regular files are read: a Bundle file is read twice (ReadPath, then the
// import), which a named pipe or a device cannot do.
func ReadPath(path string) (Input, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Input{}, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return Input{}, notRegular(path)
		}
		if in, ok, err := scanFile(path); ok || err != nil {
			return in, err
		}
		data, err := readFile(path, limits.bytes)
		if err != nil {
			return Input{}, err
		}
		if err := fhir.CheckJSON(data); err != nil {
			return Input{}, pgo.Errorf(pgo.EINVALID, "file %s: %v", filepath.Base(path), err)
		}
		return ReadInput(data)
	}
	files, err := filepath.Glob(filepath.Join(path, "*.json"))
	if err != nil || len(files) == 0 {
		return Input{}, pgo.Errorf(pgo.EINVALID, "no *.json files in %s", path)
	}
	if len(files) > limits.entries {
		return Input{}, tooManyEntries(path)
	}
	sort.Strings(files)
	in := Input{Source: "directory"}
	total := int64(0)
	for i, f := range files {
		data, err := readFile(f, limits.bytes-total)
		if pgo.ErrorCode(err) == pgo.ETOOLARGE {
			return Input{}, pgo.Errorf(pgo.ETOOLARGE, "%s holds more than %s", path, byteText(limits.bytes))
		}
		if err != nil {
			return Input{}, err
		}
		total += int64(len(data))
		name := filepath.Base(f)
		if fhir.IsBundle(data) {
			return Input{}, pgo.Errorf(pgo.EINVALID, "file %s: a Bundle inside a directory of loose resources; import it on its own", name)
		}
		in.Entries = append(in.Entries, fhir.Entry{Index: i, Source: name, JSON: data})
	}
	return in, nil
}

// scanFile reads a Bundle file once, entry by entry, to check its envelope and
// entries' shape, count them and keep one entry per resource type for version
// detection. ok is false when the file is not a Bundle or not JSON: such a file
// is read whole (ReadPath), which says where its JSON breaks or reads it as one
// resource.
func scanFile(path string) (in Input, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return Input{}, false, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	defer f.Close()
	in.path = path
	types := map[string]bool{}
	r := bounded(f, limits.bytes)
	typ, err := fhir.ScanBundle(r, func(e fhir.Entry) error {
		if in.count++; in.count > limits.entries {
			return tooManyEntries(filepath.Base(path))
		}
		var p struct {
			ResourceType string `json:"resourceType"`
		}
		if json.Unmarshal(e.JSON, &p) != nil || !types[p.ResourceType] {
			types[p.ResourceType] = true
			in.samples = append(in.samples, e)
		}
		return nil
	})
	switch {
	case r.exceeded():
		return Input{}, false, tooLarge(filepath.Base(path), limits.bytes)
	case errors.Is(err, fhir.ErrNotJSON) || errors.Is(err, fhir.ErrNotBundle):
		return Input{}, false, nil
	case err != nil:
		return Input{}, false, invalid(err)
	}
	in.Source, in.BundleType = "bundle:"+typ, typ
	return in, true, nil
}

// readFile reads the regular file at path, at most max bytes of it.
func readFile(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	defer f.Close()
	r := bounded(f, max)
	data, err := io.ReadAll(r)
	if r.exceeded() {
		return nil, tooLarge(filepath.Base(path), max)
	}
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	return data, nil
}

// limitReader is an io.LimitedReader that reads one byte more than its limit,
// so that input over the limit is told from input of exactly the limit.
type limitReader struct{ io.LimitedReader }

func bounded(r io.Reader, max int64) *limitReader {
	return &limitReader{io.LimitedReader{R: r, N: max + 1}}
}

// exceeded reports whether more than the limit was read.
func (l *limitReader) exceeded() bool { return l.N <= 0 }

func tooLarge(name string, max int64) error {
	return pgo.Errorf(pgo.ETOOLARGE, "%s is larger than %s", name, byteText(max))
}

func tooManyEntries(name string) error {
	return pgo.Errorf(pgo.ETOOLARGE, "%s holds more than %d entries (resources); import it in parts", name, limits.entries)
}

func notRegular(path string) error {
	return pgo.Errorf(pgo.EINVALID, "%s is not a regular file (a pipe or device cannot be imported); copy it to a file first", filepath.Base(path))
}

// byteText says n bytes in MB when it is a whole number of them.
func byteText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// invalid turns a validation error into the project's error; its message (entry,
// path, reason) is safe to show: fhir.Error never carries resource values.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*pgo.Error); ok {
		return err
	}
	return pgo.Wrap(pgo.EINVALID, err, strings.TrimSpace(err.Error()))
}
