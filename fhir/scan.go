package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNotBundle is ScanBundle's answer for valid JSON that is not a Bundle.
var ErrNotBundle = errors.New("not a Bundle")

// ErrNotJSON wraps ScanBundle's answer for input that is not one JSON object; the
// caller reads such input whole to say precisely where it breaks.
var ErrNotJSON = errors.New("not JSON")

// ScanBundle reads a Bundle from r entry by entry, so that an import holds one
// entry at a time rather than the whole file (issue 15: import memory), and calls
// fn with each entry in order. It checks what ReadBundle checks: an accepted type,
// every entry with a resource; the envelope's errors come first even when
// "entry" precedes "type" in the file (the whole file is read before an entry
// error is returned, and fn is not called after one, nor after an error of fn,
// which is returned as it is).
func ScanBundle(r io.Reader, fn func(Entry) error) (bundleType string, err error) {
	d := json.NewDecoder(r)
	env := Entry{Index: -1}
	if tok, err := d.Token(); err != nil {
		return "", notJSON(err)
	} else if tok != json.Delim('{') {
		return "", notJSON(errors.New("not a JSON object"))
	}
	var resourceType string
	var entryErr, typeErr error
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return "", notJSON(err)
		}
		switch tok {
		case "resourceType", "type":
			var v json.RawMessage
			if err = d.Decode(&v); err != nil {
				break
			}
			s := &resourceType
			if tok == "type" {
				s = &bundleType
			}
			if json.Unmarshal(v, s) != nil {
				*s = ""
				if tok == "type" {
					typeErr = at(env, "Bundle.type", "not a string")
				}
			}
		case "entry":
			entryErr, err = scanEntries(d, fn)
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return "", notJSON(err)
		}
	}
	if _, err := d.Token(); err != nil {
		return "", notJSON(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return "", notJSON(errors.New("data after the top-level value"))
	}
	switch {
	case resourceType != "Bundle":
		return "", ErrNotBundle
	case typeErr != nil:
		return "", typeErr
	case !BundleTypes[bundleType]:
		return "", at(env, "Bundle.type", fmt.Sprintf("type %q is not imported (use transaction, collection or searchset)", bundleType))
	}
	return bundleType, entryErr
}

// scanEntries reads the "entry" array. entryErr is the first entry's error (no
// resource, or fn's); err is bad JSON.
func scanEntries(d *json.Decoder, fn func(Entry) error) (entryErr, err error) {
	if tok, err := d.Token(); err != nil {
		return nil, notJSON(err)
	} else if tok != json.Delim('[') {
		return nil, notJSON(errors.New("the entry element of the Bundle is not an array"))
	}
	for i := 0; d.More(); i++ {
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, notJSON(err)
		}
		if entryErr != nil {
			continue
		}
		e, eerr := readEntry(i, raw, false)
		if eerr != nil {
			entryErr = eerr
			continue
		}
		entryErr = fn(e)
	}
	_, err = d.Token()
	return entryErr, notJSON(err)
}

func notJSON(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ErrNotJSON, err)
}
