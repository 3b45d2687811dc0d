package audit

import (
	"net/netip"
	"sync"
	"time"
)

// Quota bounds the audit records that requests nobody authenticated can cause:
// a peer route refuses a request without a verified client certificate (and
// the authorization endpoint one before login), and
// each refusal is a security event worth a record (ASVS 5.0 V16.3.2), but
// anyone who can reach the port can send them, and each record is a chained
// row kept for years. Per fixed window, each source network (SourceKey) gets
// PerSource records and all sources together Total; the refusal that reaches a
// limit is recorded as the last (Verdict QuotaLast: its record says that further
// refusals of the window are not recorded), the ones after it are not recorded
// (QuotaSkip) and only counted. A nil *Quota records everything; zero fields take
// their defaults.
// Each process has its own, so the bound holds per process.
type Quota struct {
	Window    time.Duration // default one minute
	PerSource int           // records per source per window; default 10
	Total     int           // records per window over all sources; default 300
	Now       func() time.Time

	mu      sync.Mutex
	start   time.Time
	total   int
	sources map[string]int
	skipped uint64
}

// Verdict is Admit's answer.
type Verdict int

const (
	QuotaRecord Verdict = iota // record the refusal
	QuotaLast                  // record it, saying that further ones of the window are not
	QuotaSkip                  // do not record it (counted in Skipped)
)

// DetailQuota is the Details key of a QuotaLast record, with the window's end.
const DetailQuota = "unrecorded_until"

// Admit says whether the refusal of a request from source (an IP address)
// gets an audit record, and until when the window runs.
func (q *Quota) Admit(source string) (Verdict, time.Time) {
	if q == nil {
		return QuotaRecord, time.Time{}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now
	if q.Now != nil {
		now = q.Now
	}
	window, per, total := q.Window, q.PerSource, q.Total
	if window <= 0 {
		window = time.Minute
	}
	if per <= 0 {
		per = 10
	}
	if total <= 0 {
		total = 300
	}
	t := now()
	if q.sources == nil || !t.Before(q.start.Add(window)) {
		q.start, q.total, q.sources = t.Truncate(window), 0, map[string]int{}
	}
	end := q.start.Add(window)
	key := SourceKey(source)
	n := q.sources[key]
	if n >= per || q.total >= total {
		q.skipped++
		return QuotaSkip, end
	}
	q.sources[key] = n + 1
	q.total++
	if n+1 == per || q.total == total {
		return QuotaLast, end
	}
	return QuotaRecord, end
}

// Skipped is how many refusals were not recorded since the process started.
func (q *Quota) Skipped() uint64 {
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.skipped
}

// SourceKey is the source network of an IP address, as throttles count it: an
// IPv4 address as it is, an IPv6 address by its /64 network (one subscriber
// usually gets a whole /64, RIPE-690 §4.2, so keying on the full address would
// give one client 2^64 fresh counters). An address that does not parse is its
// own key.
func SourceKey(ip string) string {
	addr, ok := parseSource(ip)
	if !ok {
		return ip
	}
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// SiteKey is the IPv6 /48 of ip, which one customer site usually gets (RIPE-690
// §4.2): a throttle that also counts it keeps a client rotating through the
// site's 65,536 /64s from multiplying its attempts. IPv4 addresses, and
// addresses that do not parse, have none.
func SiteKey(ip string) (string, bool) {
	addr, ok := parseSource(ip)
	if !ok || addr.Is4() {
		return "", false
	}
	p, _ := addr.Prefix(48)
	return p.String(), true
}

// parseSource parses a client address as the keys above count it: an IPv4
// address mapped into IPv6 as IPv4, without a zone.
func parseSource(ip string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}
