package zal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// genZAL returns a valid ZAL with Volgnummer v and n sources named from v, so a
// reader can check that a snapshot is internally consistent.
func genZAL(t testing.TB, v int64, n int) []byte {
	t.Helper()
	var inst []Instance
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pgo%s%s", letters(v), letters(int64(i)))
		inst = append(inst, Instance{Name: name, BaseURL: "https://" + name + ".example.nl"})
	}
	out, err := Generate(GenerateInput{Instances: inst, Volgnummer: v})
	if err != nil {
		t.Fatal(err)
	}
	return out[KindZAL]
}

// letters spells n in a..z digits (names may only hold lower-case letters).
func letters(n int64) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n /= 26
		if n == 0 {
			return s
		}
	}
}

// listServer serves one list with a behaviour the test can change.
type listServer struct {
	mu       sync.Mutex
	body     []byte
	status   int
	etag     string
	delay    time.Duration
	lastINM  string
	lastIMS  string
	requests atomic.Int64
}

func (s *listServer) set(body []byte, status int, etag string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status, s.etag, s.delay = body, status, etag, delay
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	body, status, etag, delay := s.body, s.status, s.etag, s.delay
	s.lastINM = r.Header.Get("If-None-Match")
	s.lastIMS = r.Header.Get("If-Modified-Since")
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if etag != "" && r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newURLRegistry(t *testing.T, ls *listServer) (*Registry, *httptest.Server) {
	srv := httptest.NewTLSServer(ls)
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.Timeout = 300 * time.Millisecond
	r := New(Options{
		Origins:    map[Kind]Origin{KindZAL: {URL: srv.URL + "/MedMij_Zorgaanbiederslijst.xml?api=1"}},
		HTTPClient: client,
		Logger:     quietLogger(),
	})
	return r, srv
}

func TestRefreshKeepsLastGood(t *testing.T) {
	ls := &listServer{}
	v10 := genZAL(t, 10, 2)
	ls.set(v10, 200, `"v10"`, 0)
	r, _ := newURLRegistry(t, ls)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		body  []byte
		code  int
		etag  string
		delay time.Duration
		want  string // "" means no error
	}{
		{"lower Volgnummer", genZAL(t, 9, 2), 200, `"v9"`, 0, "Volgnummer 9 is not higher than the current 10; keeping the current list"},
		{"equal Volgnummer, other content", genZAL(t, 10, 3), 200, `"v10b"`, 0, "Volgnummer 10 is not higher than the current 10; keeping the current list"},
		{"invalid list", []byte("<Zorgaanbiederslijst/>"), 200, "", 0, "line 1: <Zorgaanbiederslijst>: missing default namespace (xmlns)"},
		{"wrong list", fixture(t, "gnl.xml"), 200, "", 0, "line 1: expected a zal list, got a gnl list"},
		{"HTTP 500", []byte("oops"), 500, "", 0, "fetching the list failed: HTTP 500"},
		{"timeout", v10, 200, "", 2 * time.Second, "fetching the list failed: timeout"},
		{"identical copy", v10, 200, `"v10"`, 0, ""},
		{"not modified", nil, 200, `"v10"`, 0, ""},
	}
	var failures uint64
	for _, c := range cases {
		ls.set(c.body, c.code, c.etag, c.delay)
		before := r.Snapshot().ZAL
		err := r.Refresh(context.Background(), KindZAL)
		if got := pgo.ErrorMessage(err); (err == nil) != (c.want == "") || (err != nil && got != c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if err != nil {
			failures++
		}
		if r.Snapshot().ZAL != before || r.Snapshot().ZAL.Volgnummer != 10 {
			t.Errorf("%s: current list changed", c.name)
		}
		st := r.Stats()[0]
		if st.Failures != failures || (err != nil && st.LastError != c.want) {
			t.Errorf("%s: stats %+v", c.name, st)
		}
	}
	if ls.lastINM != `"v10"` || ls.lastIMS != "Mon, 23 Nov 2026 10:00:00 GMT" {
		t.Errorf("conditional request: If-None-Match %q, If-Modified-Since %q", ls.lastINM, ls.lastIMS)
	}
	if st := r.Stats()[0]; st.Unchanged != 2 || st.Replacements != 1 {
		t.Errorf("stats %+v", st)
	}
	ls.set(genZAL(t, 11, 1), 200, `"v11"`, 0)
	if err := r.Refresh(context.Background(), KindZAL); err != nil {
		t.Fatal(err)
	}
	if z := r.Snapshot().ZAL; z.Volgnummer != 11 || len(z.Sources("51")) != 1 {
		t.Fatalf("newer list not swapped in: %d", z.Volgnummer)
	}
	if st := r.Stats()[0]; st.LastError != "" || st.Replacements != 2 {
		t.Errorf("stats after success %+v", st)
	}
}

func TestRefreshSwapsAtomicallyUnderConcurrentLookups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zal.xml")
	write := func(v int64) {
		// Version v has v%5+1 sources, all named after v: a torn read would mix them.
		if err := os.WriteFile(path, genZAL(t, v, int(v%5)+1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	r := New(Options{Origins: map[Kind]Origin{KindZAL: {File: path}}, Logger: quietLogger()})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for ctx.Err() == nil {
				z := r.Snapshot().ZAL
				src, _ := r.Sources("51")
				_ = src
				s := z.Sources("51")
				if z.Volgnummer < last || len(s) != int(z.Volgnummer%5)+1 {
					t.Errorf("inconsistent snapshot: v%d after v%d with %d sources", z.Volgnummer, last, len(s))
					return
				}
				prefix := "pgo" + letters(z.Volgnummer)
				for _, x := range s {
					if x.Name[:len(prefix)] != prefix {
						t.Errorf("v%d holds %s", z.Volgnummer, x.Name)
						return
					}
				}
				last = z.Volgnummer
				lookups.Add(1)
			}
		}()
	}
	for v := int64(2); v <= 30; v++ {
		write(v)
		if err := r.Refresh(context.Background(), KindZAL); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
	}
	cancel()
	wg.Wait()
	if r.Snapshot().ZAL.Volgnummer != 30 || lookups.Load() == 0 {
		t.Fatalf("end: v%d after %d lookups", r.Snapshot().ZAL.Volgnummer, lookups.Load())
	}
}

func TestRunRefreshesPeriodically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zal.xml")
	if err := os.WriteFile(path, genZAL(t, 1, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Origins: map[Kind]Origin{KindZAL: {File: path}}, Refresh: 20 * time.Millisecond, Jitter: 0.5, Logger: quietLogger()})
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	if err := os.WriteFile(path, genZAL(t, 2, 2), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Snapshot().ZAL.Volgnummer != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if r.Snapshot().ZAL.Volgnummer != 2 {
		t.Fatal("Run did not pick up the newer file")
	}
	for i := 0; i < 100; i++ {
		if d := r.nextDelay(); d < 10*time.Millisecond || d > 30*time.Millisecond {
			t.Fatalf("delay %v outside 20ms ± 50%%", d)
		}
	}
}

func TestReady(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	zpath, opath := filepath.Join(dir, "zal.xml"), filepath.Join(dir, "ocl.xml")
	if err := os.WriteFile(zpath, fixture(t, "zal3.xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{
		Origins: map[Kind]Origin{KindZAL: {File: zpath}, KindOCL: {File: opath}},
		Logger:  quietLogger(), Now: func() time.Time { return now },
	})
	err := r.Load(context.Background())
	if got := pgo.ErrorMessage(err); got != "MedMij lists not available: [ocl: reading the list file failed: no such file or directory]" {
		t.Errorf("load: %q", got)
	}
	if got := pgo.ErrorMessage(r.Ready(time.Hour)); got != "ocl list not loaded" {
		t.Errorf("ready without OCL: %q", got)
	}
	if err := os.WriteFile(opath, fixture(t, "ocl.xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background(), KindOCL); err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(time.Hour); err != nil {
		t.Fatalf("fresh lists not ready: %v", err)
	}
	now = now.Add(30 * time.Minute)
	_ = r.Refresh(context.Background(), KindOCL) // unchanged: confirms the OCL only
	now = now.Add(45 * time.Minute)
	if got := pgo.ErrorMessage(r.Ready(time.Hour)); got != "zal list is stale (last confirmed 1h15m0s ago, maximum 1h0m0s)" {
		t.Errorf("stale: %q", got)
	}
	if pgo.ErrorCode(r.Ready(time.Hour)) != pgo.EUNAVAILABLE {
		t.Error("stale is not EUNAVAILABLE")
	}
	// Lists not configured and not loaded do not count; none at all is said plainly.
	err = New(Options{}).Ready(time.Hour)
	var nc interface{ NotConfigured() bool }
	if !errors.Is(err, ErrNotConfigured) || !errors.As(err, &nc) || !nc.NotConfigured() {
		t.Errorf("empty registry: %v; want ErrNotConfigured", err)
	}
}

func TestRegistryLookups(t *testing.T) {
	empty := New(Options{})
	if _, err := empty.Sources("51"); pgo.ErrorMessage(err) != "the zal list is not loaded yet" {
		t.Errorf("empty: %v", err)
	}
	if _, err := empty.Client("x.nl"); pgo.ErrorCode(err) != pgo.EUNAVAILABLE {
		t.Errorf("empty client: %v", err)
	}
	if empty.Whitelisted("noord.example.nl") {
		t.Error("empty whitelist allows")
	}
	r := NewStatic(mustParse[*ZAL](t, fixture(t, "zal3.xml")), mustParse[*OCL](t, fixture(t, "ocl.xml")),
		mustParse[*GNL](t, fixture(t, "gnl.xml")), mustParse[*Whitelist](t, fixture(t, "whitelist.xml")))
	if s, err := r.Search("51", "alfa"); err != nil || len(s) != 1 {
		t.Errorf("search %v %v", s, err)
	}
	// The ZAL has no display name: a source whose authorization host is on the
	// OCL is shown by the OCL's organisation name, any other by its ZAL name.
	if s, err := r.Source("noord@medmij", "51"); err != nil || s.Display != "PGO Noord & Co" {
		t.Errorf("source %v %v", s, err)
	}
	if s, err := r.Search("51", "alfa"); err != nil || len(s) != 1 || s[0].Display != "alfapgo" {
		t.Errorf("source not on the OCL: %v %v", s, err)
	}
	if s, err := r.Sources("51"); err != nil || displayOf(s, "noord@medmij") != "PGO Noord & Co" ||
		displayOf(r.Snapshot().ZAL.Sources("51"), "noord@medmij") != "noord" {
		t.Errorf("sources: %v %v (or the ZAL's shared slice was changed)", s, err)
	}
	if e, err := r.Endpoints("ziekenhuis@medmij", "51"); err != nil || e.Token != "https://zh.example.nl/token" {
		t.Errorf("endpoints %v %v", e, err)
	}
	if c, err := r.Client("zuid.example.nl"); err != nil || c.Organisation != "PGO Zuid" {
		t.Errorf("client %v %v", c, err)
	}
	if n, err := r.GegevensdienstName("51"); err != nil || n != Name51 {
		t.Errorf("gnl %q %v", n, err)
	}
	if _, err := r.GegevensdienstName("77"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("gnl 77: %v", err)
	}
	if !r.Whitelisted("zuid.localhost") || r.Whitelisted("evil.localhost") {
		t.Error("whitelist")
	}
	if err := r.Ready(time.Hour); err != nil {
		t.Errorf("static ready: %v", err)
	}
}

func displayOf(sources []Source, name string) string {
	for _, s := range sources {
		if s.Name == name {
			return s.Display
		}
	}
	return ""
}
