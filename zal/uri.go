package zal

import "strings"

// Hand-written matchers for the patterns of the published list schemas. They
// replace regular expressions that took a sixth of the parse time of a large ZAL
// (issue 16); TestPatternsMatchRegexps and FuzzPatterns hold them to the
// schema's regular expressions, which the tests keep as the reference.

// matchProviderName is ^[a-z]+@medmij$.
func matchProviderName(v string) bool {
	name, ok := strings.CutSuffix(v, "@medmij")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 'a' || name[i] > 'z' {
			return false
		}
	}
	return true
}

// matchHost is ^(([a-z0-9])([a-z0-9-])*(\.))+([a-z0-9])([a-z0-9-])*([a-z0-9])?$:
// at least two labels, each a lower-case letter or digit followed by letters,
// digits and hyphens.
func matchHost(v string) bool {
	n := hostLen(v)
	return n > 0 && n == len(v)
}

// hostLen is the length of the host name that starts v (0 when there is none):
// the longest run of dotted labels, with at least one dot.
func hostLen(v string) int {
	i, dots := 0, 0
	for {
		if i >= len(v) || !isLowerAlnum(v[i]) {
			return 0 // a label must start with a letter or digit
		}
		i++
		for i < len(v) && (isLowerAlnum(v[i]) || v[i] == '-') {
			i++
		}
		if i >= len(v) || v[i] != '.' {
			break
		}
		dots++
		i++
	}
	if dots == 0 {
		return 0
	}
	return i
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// matchURI is the URI pattern of the endpoints: https://, a host, an optional
// port of one to five digits (only when port), then path segments of at least one
// character other than ?, # and /:
// ^https://host(:[0-9]{1,5})?(/[^?#/]+)*$.
func matchURI(v string, port bool) bool {
	rest, ok := strings.CutPrefix(v, "https://")
	if !ok {
		return false
	}
	n := hostLen(rest)
	if n == 0 {
		return false
	}
	rest = rest[n:]
	if port && strings.HasPrefix(rest, ":") {
		d := 1
		for d < len(rest) && d <= 6 && '0' <= rest[d] && rest[d] <= '9' {
			d++
		}
		if d == 1 || d > 6 {
			return false
		}
		rest = rest[d:]
	}
	for rest != "" {
		if rest[0] != '/' {
			return false
		}
		seg := 1
		for seg < len(rest) && rest[seg] != '?' && rest[seg] != '#' && rest[seg] != '/' {
			seg++
		}
		if seg == 1 {
			return false
		}
		rest = rest[seg:]
	}
	return true
}
