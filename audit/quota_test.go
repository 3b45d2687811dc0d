package audit

import (
	"testing"
	"time"
)

// Per window each source network gets PerSource records, all sources Total; the
// refusal that reaches a limit is the last recorded, later ones are skipped and
// counted; a new window starts afresh; an IPv6 /64 is one source; nil records all.
func TestQuota(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 0, 10, 0, time.UTC)
	q := &Quota{Window: time.Minute, PerSource: 3, Total: 6, Now: func() time.Time { return now }}
	var got []Verdict
	for range 4 {
		v, until := q.Admit("192.0.2.1")
		got = append(got, v)
		if want := time.Date(2026, 12, 7, 14, 1, 0, 0, time.UTC); !until.Equal(want) {
			t.Fatalf("window ends %v, want %v", until, want)
		}
	}
	if want := []Verdict{QuotaRecord, QuotaRecord, QuotaLast, QuotaSkip}; !equal(got, want) {
		t.Fatalf("one source: %v, want %v", got, want)
	}
	// two addresses of one /64 are one source; another /64 is another
	a, _ := q.Admit("2001:db8:1:2::1")
	b, _ := q.Admit("2001:db8:1:2:ffff::9")
	c, _ := q.Admit("2001:db8:1:3::1") // the sixth record: the total's last
	d, _ := q.Admit("198.51.100.7")    // over the total
	if want := []Verdict{QuotaRecord, QuotaRecord, QuotaLast, QuotaSkip}; !equal([]Verdict{a, b, c, d}, want) {
		t.Fatalf("sources and total: %v, want %v", []Verdict{a, b, c, d}, want)
	}
	if q.Skipped() != 2 {
		t.Fatalf("skipped %d, want 2", q.Skipped())
	}
	now = now.Add(time.Minute)
	if v, _ := q.Admit("192.0.2.1"); v != QuotaRecord {
		t.Fatalf("next window: %v, want a record", v)
	}
	var none *Quota
	for range 20 {
		if v, _ := none.Admit("192.0.2.1"); v != QuotaRecord {
			t.Fatal("a nil quota skipped a record")
		}
	}
	if SourceKey("::ffff:192.0.2.1") != "192.0.2.1" || SourceKey("fe80::1%eth0") != "fe80::/64" || SourceKey("junk") != "junk" {
		t.Fatalf("source keys: %q %q %q", SourceKey("::ffff:192.0.2.1"), SourceKey("fe80::1%eth0"), SourceKey("junk"))
	}
	for ip, want := range map[string]string{"2001:db8:77:1234::1": "2001:db8:77::/48", "fe80::1%eth0": "fe80::/48",
		"::ffff:192.0.2.1": "", "192.0.2.1": "", "junk": ""} {
		if got, ok := SiteKey(ip); got != want || ok != (want != "") {
			t.Errorf("SiteKey(%q) = %q, %v; want %q", ip, got, ok, want)
		}
	}
}

func equal(a, b []Verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
