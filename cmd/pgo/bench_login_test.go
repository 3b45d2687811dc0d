package main

import "testing"

// TestLoginConcurrency: the untimed logins never run more at once than a serve
// process has password-check slots by default (2 per CPU), whatever --concurrency
// asks, so none is answered "very busy".
func TestLoginConcurrency(t *testing.T) {
	slots := 2 * nproc()
	for _, c := range []struct{ in, want int }{{0, 1}, {1, 1}, {slots, slots}, {slots + 1, slots}, {20 * slots, slots}} {
		if got := loginConcurrency(c.in); got != c.want {
			t.Errorf("loginConcurrency(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
