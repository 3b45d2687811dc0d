package dossier

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// MaxInputBytes bounds what one import reads (a large dossier is ~30 MB of JSON).
const MaxInputBytes = 512 << 20

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
func (in Input) each(fn func(fhir.Entry) error) error {
	if in.path == "" {
		for _, e := range in.Entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	f, err := os.Open(in.path)
	if err != nil {
		return pgo.Wrap(pgo.EINVALID, err, "cannot read "+in.path)
	}
	defer f.Close()
	_, err = fhir.ScanBundle(f, fn)
	if errors.Is(err, fhir.ErrNotJSON) || errors.Is(err, fhir.ErrNotBundle) {
		return pgo.Errorf(pgo.EINVALID, "%s changed while it was imported", filepath.Base(in.path))
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
	if err := fhir.CheckJSON(data); err != nil {
		return Input{}, invalid(err)
	}
	if fhir.IsBundle(data) {
		typ, entries, err := fhir.ReadBundle(data)
		if err != nil {
			return Input{}, invalid(err)
		}
		return Input{Source: "bundle:" + typ, BundleType: typ, Entries: entries}, nil
	}
	return Input{Source: "resource", Entries: []fhir.Entry{{Index: 0, JSON: data}}}, nil
}

// ReadPath reads a Bundle file, a single resource file, or a directory of loose
// resources (every *.json file in it, in name order; a Bundle file there is refused).
func ReadPath(path string) (Input, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Input{}, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	if !st.IsDir() {
		if in, ok, err := scanFile(path, st.Size()); ok || err != nil {
			return in, err
		}
		data, err := readFile(path)
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
	sort.Strings(files)
	in := Input{Source: "directory"}
	total := int64(0)
	for i, f := range files {
		data, err := readFile(f)
		if err != nil {
			return Input{}, err
		}
		if total += int64(len(data)); total > MaxInputBytes {
			return Input{}, pgo.Errorf(pgo.ETOOLARGE, "%s holds more than %d MB", path, MaxInputBytes>>20)
		}
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
func scanFile(path string, size int64) (in Input, ok bool, err error) {
	if size > MaxInputBytes {
		return Input{}, false, pgo.Errorf(pgo.ETOOLARGE, "%s is larger than %d MB", filepath.Base(path), MaxInputBytes>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return Input{}, false, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	defer f.Close()
	in.path = path
	types := map[string]bool{}
	typ, err := fhir.ScanBundle(f, func(e fhir.Entry) error {
		in.count++
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
	case errors.Is(err, fhir.ErrNotJSON) || errors.Is(err, fhir.ErrNotBundle):
		return Input{}, false, nil
	case err != nil:
		return Input{}, false, invalid(err)
	}
	in.Source, in.BundleType = "bundle:"+typ, typ
	return in, true, nil
}

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	if st.Size() > MaxInputBytes {
		return nil, pgo.Errorf(pgo.ETOOLARGE, "%s is larger than %d MB", filepath.Base(path), MaxInputBytes>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINVALID, err, "cannot read "+path)
	}
	return data, nil
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
