package server

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// docSearch is a parsed GET [base]/DocumentReference search (FHIR STU3 search.html).
// The patient comes from the token, so no patient/subject parameter is needed.
type docSearch struct {
	statuses [][]string  // each status=current[,superseded,...]: OR of codes; repeated: AND
	indexed  []dateBound // indexed=ge..&indexed=le..: AND of bounds
	selfArgs []string    // "name=value" pairs as applied, in request order, for the self link
}

// dateBound is one prefixed date comparison, with the value's implicit range
// [start, end) given by its precision (search.html#date).
type dateBound struct {
	prefix     string
	start, end time.Time
}

// documentStatuses are the DocumentReferenceStatus codes (STU3 valueset).
var documentStatuses = map[string]bool{"current": true, "superseded": true, "entered-in-error": true}

// docSearchParams are the search parameters applied, none with any modifier.
var docSearchParams = map[string]bool{"status": true, "indexed": true}

// parseDocSearch reads the query. Unknown parameters are ignored (search.html §2.21.1.1:
// a server ignores what it does not support and its self link shows what it
// applied); a malformed value of a known one, or a known one with a modifier, is an
// error (400). `_format` is applied (it selects the representation) and kept in
// the self link.
func parseDocSearch(rawQuery string) (docSearch, error) {
	var s docSearch
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return s, fmt.Errorf("the query is not correctly URL-encoded")
		}
		if param, modifier, ok := strings.Cut(name, ":"); ok && docSearchParams[param] {
			// A modifier changes what the parameter selects (status:not=current
			// is every other status): ignoring it would answer a different
			// search than the one asked, so it is refused (search.html#modifiers).
			return s, fmt.Errorf("%s: the modifier :%s is not supported for %s", name, modifier, param)
		}
		switch name {
		case "status":
			var any []string
			for _, token := range strings.Split(value, ",") {
				code, err := statusCode(token)
				if err != nil {
					return s, err
				}
				any = append(any, code)
			}
			s.statuses = append(s.statuses, any)
		case "indexed":
			b, err := parseDateBound(value)
			if err != nil {
				return s, fmt.Errorf("indexed: %v", err)
			}
			s.indexed = append(s.indexed, b)
		case "_format":
		default:
			continue // not supported: ignored, and not in the self link
		}
		s.selfArgs = append(s.selfArgs, url.QueryEscape(name)+"="+url.QueryEscape(value))
	}
	return s, nil
}

// statusSystem is the code system of DocumentReferenceStatus (STU3).
const statusSystem = "http://hl7.org/fhir/document-reference-status"

// statusCode reads one token of a status search (search.html#token): code,
// |code (no system) or system|code, where system can only be statusSystem.
func statusCode(token string) (string, error) {
	code := token
	if system, c, ok := strings.Cut(token, "|"); ok {
		if system != "" && system != statusSystem {
			return "", fmt.Errorf("status: %q is not the code system of DocumentReference status (%s)", system, statusSystem)
		}
		code = c
	}
	if !documentStatuses[code] {
		return "", fmt.Errorf("status: %q is not a DocumentReference status", code)
	}
	return code, nil
}

// selfLink is the search's self link: the base and exactly the parameters applied.
func (s docSearch) selfLink(base string) string {
	u := base + "/DocumentReference"
	if len(s.selfArgs) > 0 {
		u += "?" + strings.Join(s.selfArgs, "&")
	}
	return u
}

// matches reports whether a document with this status, indexed at t, is selected.
func (s docSearch) matches(status string, t time.Time) bool {
	for _, any := range s.statuses { // every status parameter must hold
		if !slices.Contains(any, status) {
			return false
		}
	}
	for _, b := range s.indexed {
		if !b.holds(t) {
			return false
		}
	}
	return true
}

// holds compares an instant with the bound (search.html#prefix, for a value
// without its own range: eq within the range, ge from its start, le before its end).
func (b dateBound) holds(t time.Time) bool {
	switch b.prefix {
	case "eq":
		return !t.Before(b.start) && t.Before(b.end)
	case "ne":
		return t.Before(b.start) || !t.Before(b.end)
	case "gt", "sa":
		return !t.Before(b.end)
	case "lt", "eb":
		return t.Before(b.start)
	case "ge":
		return !t.Before(b.start)
	case "le":
		return t.Before(b.end)
	}
	return false
}

var datePattern = regexp.MustCompile(`^(eq|ne|gt|lt|ge|le|sa|eb)?(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?)$`)

// parseDateBound parses [prefix]date with the precision of a FHIR dateTime: YYYY,
// YYYY-MM, YYYY-MM-DD, or a time with minutes or seconds (zone optional: UTC).
func parseDateBound(v string) (dateBound, error) {
	// a "+" of a zone offset that the client did not percent-encode arrives as a space
	v = strings.ReplaceAll(v, " ", "+")
	m := datePattern.FindStringSubmatch(v)
	if m == nil {
		return dateBound{}, fmt.Errorf("%q is not a FHIR date", v)
	}
	b := dateBound{prefix: m[1]}
	if b.prefix == "" {
		b.prefix = "eq"
	}
	d := m[2]
	type layout struct {
		format string
		step   func(time.Time) time.Time
	}
	var l layout
	switch {
	case len(d) == 4:
		l = layout{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }}
	case len(d) == 7:
		l = layout{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }}
	case len(d) == 10:
		l = layout{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }}
	default:
		return parseDateTimeBound(b, d, m)
	}
	t, err := time.Parse(l.format, d)
	if err != nil {
		return dateBound{}, fmt.Errorf("%q is not a valid date", v)
	}
	b.start, b.end = t, l.step(t)
	return b, nil
}

func parseDateTimeBound(b dateBound, d string, m []string) (dateBound, error) {
	step := time.Minute
	if m[6] != "" {
		step = time.Second
	}
	if m[7] != "" {
		step = time.Millisecond
	}
	if m[8] == "" {
		d += "Z"
	}
	layout := "2006-01-02T15:04Z07:00"
	if m[6] != "" {
		layout = "2006-01-02T15:04:05.999999999Z07:00"
	}
	t, err := time.Parse(layout, d)
	if err != nil {
		return dateBound{}, fmt.Errorf("%q is not a valid date-time", d)
	}
	b.start, b.end = t, t.Add(step)
	return b, nil
}
