package zal

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// elem is a tiny XML Schema: a sequence of children with occurrence bounds, or a
// leaf with a simple-type check. It mirrors the published XSDs of the MedMij lists
// (afsprakenstelsel, "Interfaces lijsten"); xs:sequence order is enforced.
type elem struct {
	name     string
	min, max int // occurrences; max 0 means unbounded
	kids     []elem
	check    func(string) error // leaves only
}

func one(name string, kids ...elem) elem  { return elem{name: name, min: 1, max: 1, kids: kids} }
func many(name string, kids ...elem) elem { return elem{name: name, min: 1, kids: kids} }
func opt(e elem) elem                     { e.min = 0; return e }
func leaf(name string, check func(string) error) elem {
	return elem{name: name, min: 1, max: 1, check: check}
}

// validate checks n against s: leaf text, or the children as an ordered sequence.
func validate(n *node, s elem) error {
	if s.kids == nil {
		if len(n.kids) > 0 {
			return listErr(n.kids[0].line, n.kids[0].name, "unexpected element inside <%s> (text expected)", n.name)
		}
		if err := s.check(n.text); err != nil {
			return listErr(n.line, n.name, "%v", err)
		}
		return nil
	}
	i := 0
	for _, sk := range s.kids {
		count := 0
		for i < len(n.kids) && n.kids[i].name == sk.name {
			if sk.max > 0 && count == sk.max {
				return listErr(n.kids[i].line, sk.name, "occurs more than %d time(s) in <%s>", sk.max, n.name)
			}
			if err := validate(n.kids[i], sk); err != nil {
				return err
			}
			count++
			i++
		}
		if count < sk.min {
			return missing(n, s, sk, i)
		}
	}
	if i < len(n.kids) {
		k := n.kids[i]
		if inSchema(s, k.name) {
			return listErr(k.line, k.name, "element out of order or repeated in <%s> (order: %s)", n.name, order(s))
		}
		return listErr(k.line, k.name, "unknown element in <%s> (allowed: %s)", n.name, order(s))
	}
	return nil
}

// missing explains why the required child sk is not at position i of n: the
// element found there is unknown, or sk comes later (order), or sk is absent.
func missing(n *node, s elem, sk elem, i int) error {
	if i >= len(n.kids) {
		return listErr(n.endLine, sk.name, "required element is missing in <%s> (before </%s>)", n.name, n.name)
	}
	k := n.kids[i]
	if !inSchema(s, k.name) {
		return listErr(k.line, k.name, "unknown element in <%s> (allowed: %s)", n.name, order(s))
	}
	for _, later := range n.kids[i:] {
		if later.name == sk.name {
			return listErr(k.line, k.name, "element out of order in <%s> (expected <%s> here; order: %s)", n.name, sk.name, order(s))
		}
	}
	return listErr(k.line, sk.name, "required element is missing in <%s> (found <%s> instead)", n.name, k.name)
}

func inSchema(s elem, name string) bool {
	for _, sk := range s.kids {
		if sk.name == name {
			return true
		}
	}
	return false
}

func order(s elem) string {
	names := make([]string, len(s.kids))
	for i, k := range s.kids {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// Simple types of the published list schemas (ZAL release2/3 XSD, OCL, Whitelist,
// GNL). Each returns an error that says what is wrong with the value.

var (
	reDuration = regexp.MustCompile(`^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$`)
)

func lengthErr(v string, lo, hi int) error {
	n := len([]rune(v))
	if n < lo || n > hi {
		return errorf("length %d is outside %d..%d", n, lo, hi)
	}
	return nil
}

func checkTijdstempel(v string) error {
	v = strings.TrimSpace(v)
	if len(v) < 20 {
		return errorf("xs:dateTime %q is shorter than 20 characters", v)
	}
	if _, err := parseDateTime(v); err != nil {
		return errorf("%q is not an xs:dateTime", v)
	}
	return nil
}

func parseDateTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", v)
	}
	return t, err
}

func parseVolgnummer(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, errorf("%q is not a positive integer", v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errorf("%q is too large", v)
	}
	if n < 1 {
		return 0, errorf("%q is not a positive integer (must be at least 1)", v)
	}
	return n, nil
}

func checkVolgnummer(v string) error { _, err := parseVolgnummer(v); return err }

func checkProviderName(v string) error {
	if err := lengthErr(v, 10, 57); err != nil {
		return err
	}
	if !matchProviderName(v) {
		return errorf("%q does not match the pattern [a-z]+@medmij", v)
	}
	return nil
}

func checkID(v string) error { return lengthErr(v, 1, 30) }

func checkAanbiedertype(v string) error {
	switch v {
	case "ZA", "BAZB", "APD":
		return nil
	}
	return errorf("%q is not one of ZA, BAZB, APD", v)
}

// frontURI checks a front-channel URI (authorization endpoint): https, host with
// at least one dot, no port, no query or fragment. lenient admits a port (dev only).
func frontURI(lenient bool) func(string) error {
	return func(v string) error {
		if lenient {
			return backURI(v)
		}
		if !matchURI(v, false) {
			return errorf("%q is not a front-channel URI (https://host/path, no port, query or fragment)", v)
		}
		return nil
	}
}

// backURI checks a back-channel URI (token, resource, subscription): as frontURI
// but with an optional port.
func backURI(v string) error {
	if !matchURI(v, true) {
		return errorf("%q is not a back-channel URI (https://host[:port]/path, no query or fragment)", v)
	}
	if p := portOf(v); p != "" {
		if n, _ := strconv.Atoi(p); n < 1 || n > 65535 {
			return errorf("%q has port %s outside 1..65535", v, p)
		}
	}
	return nil
}

func portOf(uri string) string {
	rest := strings.TrimPrefix(uri, "https://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		return rest[i+1:]
	}
	return ""
}

func checkHost(v string) error {
	if len(v) > 253 || !matchHost(v) {
		return errorf("%q is not a host name (lower-case labels with at least one dot)", v)
	}
	return nil
}

func checkOrgName(v string) error { return lengthErr(v, 3, 50) }

func checkDisplayName(v string) error {
	if strings.TrimSpace(v) == "" {
		return errorf("display name is empty")
	}
	return lengthErr(v, 1, 200)
}

// checkMaxDuration accepts MaximaleDuur as published lists write it: a whole
// number of days ("90", as in MinVWS's release3 example) or an xs:duration ("P30D").
func checkMaxDuration(v string) error {
	v = strings.TrimSpace(v)
	if v != "" && strings.Trim(v, "0123456789") == "" {
		if n, err := strconv.ParseInt(v, 10, 32); err != nil || n < 1 {
			return errorf("%q is not a number of days from 1 to %d", v, math.MaxInt32)
		}
		return nil
	}
	if v == "P" || strings.HasSuffix(v, "T") || !reDuration.MatchString(v) {
		return errorf("%q is neither a number of days nor an xs:duration", v)
	}
	return nil
}

type valueError string

func (e valueError) Error() string { return string(e) }

func errorf(format string, args ...any) error {
	return valueError(fmt.Sprintf(format, args...))
}
