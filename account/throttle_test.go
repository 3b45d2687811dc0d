package account

import "testing"

// The per-IP throttle keys IPv6 clients on their /64 (one subscriber's
// network) and IPv4 clients on the address (review finding).
func TestIPKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"192.0.2.8", "192.0.2.8"},
		{"::ffff:192.0.2.7", "192.0.2.7"}, // IPv4-mapped: the IPv4 address
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := ipKey(tc.ip); got != tc.want {
			t.Errorf("ipKey(%q) = %q; want %q", tc.ip, got, tc.want)
		}
	}
}
