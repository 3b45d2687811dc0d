package audit

import (
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
)

// Limits on field sizes: an audit record is a fact sheet, not a payload store.
const (
	maxField     = 256  // ids, names, request ids
	maxUserAgent = 512  // longer user agents are cut, never rejected
	maxDetail    = 1024 // one Details or ObjectHashes value
	maxEntries   = 32   // entries in Details or ObjectHashes
)

var (
	reasonRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,63}$`)
	keyRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// Normalize returns ev as it will be stored: Time in UTC cut to microseconds
// (PostgreSQL's precision, so the hash is stable across a round trip), now when it is
// zero; UserAgent (client-supplied, so never a reason to refuse the record) with
// invalid UTF-8 and control characters replaced and cut to 512 bytes; empty maps nil.
func (ev Event) Normalize(now time.Time) Event {
	if ev.Time.IsZero() {
		ev.Time = now
	}
	ev.Time = ev.Time.UTC().Truncate(time.Microsecond)
	ev.UserAgent = MaskBSNs(cleanText(ev.UserAgent, maxUserAgent))
	if len(ev.ObjectHashes) == 0 {
		ev.ObjectHashes = nil
	}
	if len(ev.Details) == 0 {
		ev.Details = nil
	} else {
		ev.Details = maskDetails(ev.Details)
	}
	return ev
}

// maskDetails masks BSNs inside Details texts (a message quoting input, say).
// A value that is a BSN as a whole stays as it is, so that Validate refuses
// it: that is a programming error to surface, not text to repair. Counters are
// numbers the code wrote, never a BSN.
func maskDetails(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if codeDetail(k, v) || LooksLikeBSN(v) {
			continue
		}
		if masked := MaskBSNs(v); masked != v {
			if out == nil {
				out = make(map[string]string, len(m))
				for k2, v2 := range m {
					out[k2] = v2
				}
			}
			out[k] = masked
		}
	}
	if out == nil {
		return m
	}
	return out
}

// bsnMask replaces a BSN found in free text.
const bsnMask = "*********"

// MaskBSNs replaces every run of exactly nine digits that passes the elfproef
// (digits on neither side) by asterisks, so that a BSN a client put into a
// free-text field (a User-Agent, say) never reaches the append-only log, where
// it could never be removed again (issue 15; AVG data minimisation). Longer or
// shorter digit runs are left alone: they are not BSNs.
func MaskBSNs(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i == 9 && LooksLikeBSN(s[i:j]) {
			if b == nil {
				b = []byte(s)
			}
			copy(b[i:j], bsnMask)
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(b)
}

// Validate checks an event before it is written. The error is EINVALID and names the
// field and what is wrong; it never repeats a value (it could be sensitive).
func (ev Event) Validate() error {
	checks := []func(Event) error{checkWhat, checkWho, checkStrings, checkMaps}
	for _, c := range checks {
		if err := c(ev); err != nil {
			return err
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return pgo.Errorf(pgo.EINVALID, "audit event: "+format, args...)
}

func checkWhat(ev Event) error {
	if !ev.Action.Valid() {
		return invalid("action %q is not on the closed list (audit.AllActions)", ev.Action)
	}
	switch ev.Outcome {
	case Success:
		if ev.Reason != "" {
			return invalid("reason is only for outcome failure")
		}
	case Failure:
		if !reasonRE.MatchString(ev.Reason) {
			return invalid("outcome failure needs a reason code (lower case letters, digits, _.:-; at most 64)")
		}
	default:
		return invalid("outcome %q is not success or failure", ev.Outcome)
	}
	if ev.Time.Year() < 2000 || ev.Time.Year() > 9999 {
		return invalid("time %s is out of range", ev.Time.Format(time.RFC3339))
	}
	return nil
}

func checkWho(ev Event) error {
	switch ev.ActorType {
	case ActorUser, ActorPeer, ActorAuditor, ActorSystem:
	default:
		return invalid("actor type %q is not user, peer, auditor or system", ev.ActorType)
	}
	if strings.TrimSpace(ev.ActorID) == "" {
		return invalid("actor id is empty")
	}
	switch ev.Role {
	case RoleNone, RoleSource, RoleTarget:
	default:
		return invalid("role %q is not source, target or empty", ev.Role)
	}
	if ev.SourceIP != "" {
		if _, err := netip.ParseAddr(ev.SourceIP); err != nil {
			return invalid("source ip is not an IP address")
		}
	}
	return nil
}

func checkStrings(ev Event) error {
	fields := []struct{ name, v string }{
		{"person id", ev.PersonID}, {"actor id", ev.ActorID}, {"object type", ev.ObjectType},
		{"object id", ev.ObjectID}, {"request id", ev.RequestID}, {"correlation id", ev.CorrelationID},
	}
	for _, f := range fields {
		if err := checkText(f.name, f.v, maxField); err != nil {
			return err
		}
		if LooksLikeBSN(f.v) {
			return invalid("%s looks like a BSN; use the internal id", f.name)
		}
	}
	return nil
}

func checkMaps(ev Event) error {
	for name, m := range map[string]map[string]string{"details": ev.Details, "object hashes": ev.ObjectHashes} {
		if len(m) > maxEntries {
			return invalid("%s has %d entries, at most %d", name, len(m), maxEntries)
		}
		for k, v := range m {
			if !keyRE.MatchString(k) {
				return invalid("%s key %q is not lower case letters, digits, _.- (at most 64)", name, cleanText(k, 64))
			}
			if err := checkText(name+" "+k, v, maxDetail); err != nil {
				return err
			}
			if LooksLikeBSN(v) && !(name == "details" && codeDetail(k, v)) {
				return invalid("%s %s looks like a BSN", name, k)
			}
		}
	}
	return nil
}

// counterDetails are the Details keys the code fills with counts, sizes and
// sequence numbers (strconv of an integer, never input). Nine of their digits pass
// the elfproef about once in eleven from 100,000,000 up, which must not make the
// record, and with it the state change (a prune, a rendered export), fail. Every
// other detail keeps the BSN guard.
var counterDetails = map[string]bool{
	DetailKeptFromSeq: true, "dropped_records": true, "records": true, "resources": true,
	"size": true, "pages": true, "attempt": true, "attempts": true, "other_sessions": true,
}

// DetailRun is the Details key of the records a transfer's fetch run writes:
// the run's id (package transfer), a random UUID the code generated, so that an
// auditor tells two attempts' interleaved records apart.
const DetailRun = "run"

// idDetails are the Details keys the code fills with ids it generated itself
// (random UUIDs of our own rows and tokens, never input): a transfer's run, the
// consent grant, its export job, the access token (jti, token_id) and the grants
// a new one supersedes (a comma-separated list). About one random UUID in 750
// holds nine digits that pass the elfproef; masked, the record would name an id
// that matches nothing an auditor can look up.
var idDetails = map[string]bool{
	DetailRun: true, "grant_id": true, "export_job_id": true, "jti": true, "token_id": true, "supersedes": true,
}

// codeDetail reports whether the code, never input, fills Details key k with v:
// a counter, a hash written as hex (keys ending "_hash", such as
// kept_from_prev_hash) or an id the code generated (idDetails) that is one or
// more UUIDs. Their digit runs are no BSN, and masking one would make a hash
// unreadable (a prune record whose kept_from_prev_hash held a nine-digit run
// passing the elfproef, about one in a hundred, broke verification) or an id
// match nothing. An id key whose value is not UUIDs keeps the BSN guard.
func codeDetail(k, v string) bool {
	if idDetails[k] {
		return uuidList(v)
	}
	return counterDetails[k] || strings.HasPrefix(k, "count_") || strings.HasSuffix(k, "_hash")
}

// uuidList reports whether v is one or more UUIDs in their canonical text form
// (8-4-4-4-12 hexadecimal digits), separated by commas.
func uuidList(v string) bool {
	for _, id := range strings.Split(v, ",") {
		if len(id) != 36 || uuid.Validate(id) != nil {
			return false
		}
	}
	return true
}

func checkText(name, v string, max int) error {
	if len(v) > max {
		return invalid("%s is %d bytes, at most %d", name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return invalid("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return invalid("%s contains a control character", name)
		}
	}
	return nil
}

// cleanText makes client-supplied text storable: valid UTF-8, no control characters,
// at most max bytes (cut on a character boundary).
func cleanText(v string, max int) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, v)
	for len(v) > max {
		_, size := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-size]
	}
	return v
}

// LooksLikeBSN reports whether s is nine digits passing the elfproef (the Dutch
// citizen service number check). Such a value must never be stored in the clear.
func LooksLikeBSN(s string) bool {
	if len(s) != 9 {
		return false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		w := 9 - i
		if i == 8 {
			w = -1
		}
		sum += w * d
	}
	return sum%11 == 0 && s != "000000000"
}
