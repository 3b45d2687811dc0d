package config

import "testing"

// Listen addresses as net.Listen takes them, IPv6 in brackets included (an
// operator binding the operations listener to [::1] was refused, which pushed
// towards :9464 on every interface); malformed ones are refused.
func TestListenAddresses(t *testing.T) {
	for _, v := range []string{"[::1]:9464", "[2001:db8::1]:8443", "127.0.0.1:9464", ":8443", "localhost:0"} {
		if _, err := loadWith(map[string]string{"PGO_OPS_ADDR": v}); err != nil {
			t.Errorf("PGO_OPS_ADDR=%s refused: %v", v, err)
		}
	}
	for _, v := range []string{"::1:9464", "[::1]", "9464", ":99999", "[::1]:port", "host:"} {
		if _, err := loadWith(map[string]string{"PGO_OPS_ADDR": v}); err == nil {
			t.Errorf("PGO_OPS_ADDR=%s accepted", v)
		}
	}
}
