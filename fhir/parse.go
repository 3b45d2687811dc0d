package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// Error is why one inbound resource was rejected: where it is (the Bundle entry index
// or the file name), the FHIR path of the offending element and the reason. It never
// holds values from the resource (no names, no BSNs).
type Error struct {
	Entry  int    // index in Bundle.entry (or in the list of files); -1 for the envelope
	Source string // file name for loose resources
	Path   string // FHIR path, e.g. "Condition.subject" or "Bundle.type"
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Source != "":
		fmt.Fprintf(&b, "file %s: ", e.Source)
	case e.Entry >= 0:
		fmt.Fprintf(&b, "entry %d: ", e.Entry)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Entry is one resource as read from a Bundle or a file, not yet validated.
type Entry struct {
	Index   int
	Source  string // file name for loose resources
	FullURL string // Bundle.entry.fullUrl
	// SearchMode is Bundle.entry.search.mode of a search result page (match,
	// include or outcome; "" when absent), as ReadPage reads it.
	SearchMode string
	JSON       []byte
}

// Resource is a validated inbound resource with what the importer needs from it.
type Resource struct {
	Entry
	Type string
	ID   string
	Refs []Reference // every Reference.reference in the resource, with its path
	// BSN is a Patient's own BSN (its identifier with the BSN system), "" when it
	// has none or the source masked it; for the one-patient check, never shown.
	BSN string
}

// Reference is a literal reference found in a resource.
type Reference struct {
	Path  string // e.g. "Encounter.diagnosis[0].condition.reference"
	Value string // e.g. "Condition/123", "#contained", "urn:uuid:..."; "" for a logical reference
	// Contained is the resourceType of the contained resource a local ("#id")
	// reference points at.
	Contained string
	// BSN is, for a logical reference (Reference.identifier with the BSN system
	// and no reference; Path then ends in ".identifier"), its BSN, and for a
	// local reference to a contained Patient, that Patient's BSN ("" when it has
	// none). For the one-patient check; never shown.
	BSN string
}

var (
	unmarshallers   = map[Version]*jsonformat.Unmarshaller{}
	unmarshallersMu sync.Mutex
)

func unmarshaller(v Version) (*jsonformat.Unmarshaller, error) {
	unmarshallersMu.Lock()
	defer unmarshallersMu.Unlock()
	if u, ok := unmarshallers[v]; ok {
		return u, nil
	}
	fv := fhirversion.STU3
	if v == R4 {
		fv = fhirversion.R4
	}
	u, err := jsonformat.NewUnmarshaller("UTC", fv)
	if err != nil {
		return nil, err
	}
	u.MaxNestingDepth = 64
	unmarshallers[v] = u
	return u, nil
}

// collector is a google/fhir error reporter that keeps every issue with its path.
type collector struct{ errs []*Error }

func (c *collector) ReportValidationError(path string, err error) error {
	c.errs = append(c.errs, &Error{Path: path, Reason: reason(err)})
	return nil
}

func (c *collector) ReportValidationWarning(string, error) error { return nil }

// reason strips google/fhir's `error at "path": ` prefix (we print the path ourselves)
// and never includes its Diagnostics, which may hold patient data.
func reason(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "error at ") {
		if i := strings.Index(s, "\": "); i > 0 {
			s = s[i+3:]
		}
	}
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

// pathOf returns the path google/fhir attached to err, if any.
func pathOf(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "error at \"") {
		if i := strings.Index(s[10:], "\""); i >= 0 {
			return s[10 : 10+i]
		}
	}
	return ""
}

// parseOne validates one resource with the FHIR library (base STU3 or R4: cardinality,
// data types, codes of required bindings, reference target types).
func parseOne(v Version, e Entry) *Error {
	err := parseStrict(v, e)
	if err != nil && err.Reason == "unknown field" {
		return nameUnknownField(v, e, err)
	}
	return err
}

func parseStrict(v Version, e Entry) *Error {
	u, err := unmarshaller(v)
	if err != nil {
		return at(e, "", err.Error())
	}
	c := &collector{}
	if _, err := u.UnmarshalWithErrorReporter(e.JSON, c); err != nil {
		// Bad JSON is rare: only then decode again to say where it breaks.
		if serr := syntaxCheck(e.JSON); serr != nil {
			return at(e, "", serr.Error())
		}
		return at(e, pathOf(err), reason(err))
	}
	if len(c.errs) > 0 {
		return at(e, c.errs[0].Path, c.errs[0].Reason)
	}
	return nil
}

func at(e Entry, path, why string) *Error {
	return &Error{Entry: e.Index, Source: e.Source, Path: path, Reason: why}
}

// CheckJSON reports whether data is one JSON object, and if not where it breaks
// ("invalid JSON at byte N: ..."), without any of data's values.
func CheckJSON(data []byte) error { return syntaxCheck(data) }

// syntaxCheck reports bad JSON with its byte offset (encoding/json says where;
// the FHIR library only says "invalid JSON").
func syntaxCheck(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("invalid JSON at byte %d", te.Offset)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("invalid JSON at byte %d: unexpected end of input", len(b))
		}
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if d.More() {
		return errors.New("invalid JSON: data after the top-level value")
	}
	if _, ok := v.(map[string]any); !ok {
		return errors.New("not a JSON object")
	}
	return nil
}
