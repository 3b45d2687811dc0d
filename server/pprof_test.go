package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Go's profiler answers on the operations listener and nowhere on the public
// port (issue 16): real listeners, so the test sees what a peer or an operator
// on each port would.
func TestPprofOnlyOnTheOpsListener(t *testing.T) {
	ca := newTestCA(t, "pprof CA")
	base, ops := serveListeners(t, ca, true)
	pub := h2Client(ca)
	get := func(c *http.Client, u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1",
		"/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/profile?seconds=1"} {
		if code, _ := get(pub, base+p); code != http.StatusNotFound {
			t.Errorf("public %s: %d; want 404", p, code)
		}
	}
	if code, b := get(http.DefaultClient, ops+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(b, "goroutine") {
		t.Errorf("operations /debug/pprof/: %d; want 200 with the profile index", code)
	}
	if code, b := get(http.DefaultClient, ops+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(b, "goroutine profile:") {
		t.Errorf("operations goroutine profile: %d %.80q", code, b)
	}
	// A CPU profile is gzipped protobuf (pprof's format): the magic bytes say so.
	if code, b := get(http.DefaultClient, ops+"/debug/pprof/profile?seconds=1"); code != http.StatusOK || !strings.HasPrefix(b, "\x1f\x8b") {
		t.Errorf("operations CPU profile: %d, %d bytes", code, len(b))
	}
}
