package server

import (
	"context"
	"net"
	"strings"
	"testing"
)

// wildcardListener listens on loopback but reports the address the operator
// configured, so the test exposes nothing on the machine's networks.
type wildcardListener struct {
	net.Listener
	addr net.Addr
}

func (l wildcardListener) Addr() net.Addr { return l.addr }

// An operations listener bound to every interface (PGO_OPS_ADDR=":9464" or
// "0.0.0.0:9464") is served, with a warning at start naming the settings; one on
// loopback gives no warning.
func TestOpsListenerOnEveryInterfaceWarns(t *testing.T) {
	for _, tc := range []struct {
		addr net.IP
		warn bool
	}{{net.IPv4zero, true}, {net.IPv6unspecified, true}, {net.IPv4(127, 0, 0, 1), false}} {
		s, logs := newTestServer(t, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- s.ServeOps(ctx, wildcardListener{ln, &net.TCPAddr{IP: tc.addr, Port: 9464}})
		}()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if got := strings.Contains(out, "every network interface") && strings.Contains(out, "PGO_OPS_ADDR"); got != tc.warn {
			t.Errorf("operations listener on %s: warned %v, want %v\n%s", tc.addr, got, tc.warn, out)
		}
	}
}
