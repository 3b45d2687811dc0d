package dossier

import (
	"encoding/json"
	"unicode/utf8"
)

// scanObject decodes a JSON object the way encoding/json's Decoder with
// UseNumber decodes it into a node (map[string]any, []any, string, json.Number,
// bool, nil; a repeated key keeps its last value; what follows the first value
// is not read), without reflection. It handles the plain subset a stored FHIR
// resource uses; ok is false for anything else (invalid JSON, invalid UTF-8, a
// \u escape of a surrogate, deep nesting, a top level that is not an object),
// and decode then uses encoding/json, so errors and the rare cases stay exactly
// encoding/json's. Every summary, consent screen and render decodes each
// resource of the dossier: encoding/json was half of a summary's CPU (issue 16).
func scanObject(b []byte) (n node, ok bool) {
	s := scanner{b: b}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, false
	}
	m, ok := s.object(0)
	return m, ok
}

// maxScanDepth bounds the nesting the scanner follows (encoding/json's own limit
// is 10,000); deeper input goes to encoding/json.
const maxScanDepth = 200

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) lit(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// value reads one value at s.i (after white space).
func (s *scanner) value(depth int) (any, bool) {
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		m, ok := s.object(depth + 1)
		return m, ok
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case s.lit("true"):
		return true, true
	case s.lit("false"):
		return false, true
	case s.lit("null"):
		return nil, true
	}
	return nil, false
}

func (s *scanner) object(depth int) (map[string]any, bool) {
	if depth > maxScanDepth {
		return nil, false
	}
	s.i++ // {
	m := map[string]any{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return m, true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return nil, false
		}
		k, ok := s.str()
		if !ok {
			return nil, false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.space()
		v, ok := s.value(depth)
		if !ok {
			return nil, false
		}
		m[k] = v
		if more, ok := s.separator('}'); !ok {
			return nil, false
		} else if !more {
			return m, true
		}
	}
}

// separator reads what follows a member or element: a comma (more follow) or
// end, the closing bracket (none follow); anything else is not the plain subset.
func (s *scanner) separator(end byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return true, true
	case end:
		s.i++
		return false, true
	}
	return false, false
}

func (s *scanner) array(depth int) ([]any, bool) {
	if depth > maxScanDepth {
		return nil, false
	}
	s.i++ // [
	a := []any{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return a, true
	}
	for {
		v, ok := s.value(depth)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		if more, ok := s.separator(']'); !ok {
			return nil, false
		} else if !more {
			return a, true
		}
	}
}

// str reads a string at s.i (the opening quote).
func (s *scanner) str() (string, bool) {
	start := s.i + 1
	j := start
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			seg := s.b[start:j]
			if !utf8.Valid(seg) {
				return "", false
			}
			s.i = j + 1
			return string(seg), true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return "", false
		}
		j++
	}
	return "", false
}

// escaped reads a string with escapes, from start (after the opening quote).
func (s *scanner) escaped(start int) (string, bool) {
	out := make([]byte, 0, 64)
	j := start
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", false
			}
			s.i = j + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(s.b) {
			return "", false
		}
		switch e := s.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.b, j+2)
			if !ok || r >= 0xD800 && r < 0xE000 {
				return "", false // surrogates: encoding/json's pairing rules
			}
			out = utf8.AppendRune(out, r)
			j += 4
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number in JSON's grammar and keeps it as written.
func (s *scanner) number() (any, bool) {
	start := s.i
	j := s.i
	if s.b[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(s.b) && s.b[j] == '0' {
		j++
	} else if digits() == 0 {
		return nil, false
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		if digits() == 0 {
			return nil, false
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	s.i = j
	return json.Number(s.b[start:j]), true
}
