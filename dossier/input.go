package dossier

import (
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
type Input struct {
	Source     string // "bundle:<type>", "directory" or "resource"
	BundleType string // for a Bundle
	Entries    []fhir.Entry
}

// Bundle reports whether the input is a Bundle (whose references must all resolve).
func (in Input) Bundle() bool { return in.BundleType != "" }

// ReadInput reads a Bundle or a single resource from data.
func ReadInput(data []byte) (Input, error) {
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
		data, err := readFile(path)
		if err != nil {
			return Input{}, err
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
