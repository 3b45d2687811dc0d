package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// soakWindow is one interval of the soak: the rounds that ended in it and the
// median of its resource samples per process.
type soakWindow struct {
	Interval  int            `json:"interval"` // from 1
	Transfers int            `json:"transfers"`
	Errors    int            `json:"errors"`
	Procs     []procSample   `json:"processes"`
	DBConns   map[string]int `json:"db_connections"` // per instance, from pg_stat_activity
	raw       [][]procSample
	rawDB     []map[string]int
}

// procSample is one process's resources. Goroutines come from the serve
// processes' /metrics (go_goroutines) and from this process itself; pgo worker
// has no metrics endpoint, so there it is -1. The rest is from /proc.
type procSample struct {
	Name       string  `json:"name"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"open_fds"`
	RSSMB      float64 `json:"rss_mb"`
	Threads    int     `json:"threads"`
}

// soakVerdict compares one metric of one process, first interval to last.
type soakVerdict struct {
	Process string  `json:"process"`
	Metric  string  `json:"metric"`
	First   float64 `json:"first"`
	Last    float64 `json:"last"`
	Limit   float64 `json:"limit"`
	Flat    bool    `json:"flat"`
}

// soakReport is what `pgo bench soak --json` prints.
type soakReport struct {
	Patients     int           `json:"patients"`
	WarmupS      float64       `json:"warmup_s"`
	DurationS    float64       `json:"duration_s"`
	IntervalS    float64       `json:"interval_s"`
	TolerancePct float64       `json:"tolerance_pct"`
	Slack        string        `json:"slack"`
	Transfers    int           `json:"transfers"`
	Errors       int           `json:"errors"`
	Logins       int           `json:"logins"`     // fresh logins at both PGOs (with a logout before, after the first)
	CodeWaits    int           `json:"code_waits"` // logins that waited for the next 30 s code step
	LoginBusy    int           `json:"login_busy"` // logins answered "very busy" (429, password-check slots) and tried again
	Intervals    []soakWindow  `json:"intervals"`
	Verdict      []soakVerdict `json:"verdict"`
	Flat         bool          `json:"flat"`
	ErrorSamples []string      `json:"error_samples,omitempty"`
}

// slack is the absolute growth allowed on top of the percentage: the noise of
// a busy process (requests in flight at the sampling instant, the heap's next
// GC target) that is not a leak.
var slack = map[string]float64{"goroutines": 20, "open_fds": 16, "rss_mb": 24, "db_connections": 4}

// sample takes a sample every interval/12 (at least 1 s) until stop, closing
// and printing each interval as it ends.
func (s *soak) sample(ctx context.Context, stop time.Time, out io.Writer) {
	every := max(s.o.interval/12, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	cur := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.Before(s.start) {
				continue // warm-up: not sampled
			}
			w := int(now.Sub(s.start) / s.o.interval)
			for ; cur < w && cur < len(s.windows); cur++ {
				s.closeWindow(cur, out)
			}
			if !now.Before(stop) || cur >= len(s.windows) {
				for ; cur < len(s.windows); cur++ {
					s.closeWindow(cur, out)
				}
				return
			}
			procs, db := s.snapshot(ctx)
			s.mu.Lock()
			s.windows[cur].raw = append(s.windows[cur].raw, procs)
			s.windows[cur].rawDB = append(s.windows[cur].rawDB, db)
			s.mu.Unlock()
		}
	}
}

// snapshot reads every process's resources and each database's connections.
func (s *soak) snapshot(ctx context.Context) ([]procSample, map[string]int) {
	ops := map[*demoProc]int{}
	for _, sv := range s.r.serves {
		ops[sv.proc] = sv.opsPort
	}
	var out []procSample
	for _, p := range s.r.procs {
		ps := readResources(p.name, p.cmd.Process.Pid)
		ps.Goroutines = -1
		if port, ok := ops[p]; ok {
			ps.Goroutines = scrapeGoroutines(ctx, port)
		}
		out = append(out, ps)
	}
	self := readResources("pgo bench (patients)", os.Getpid())
	self.Goroutines = runtime.NumGoroutine()
	out = append(out, self)
	db := map[string]int{}
	for key, a := range s.r.apps {
		var n int
		_ = a.DB.Pool.QueryRow(ctx, `select count(*) from pg_stat_activity where datname = current_database()`).Scan(&n)
		db[key] = n
	}
	return out, db
}

// readResources reads open fds (/proc/PID/fd), RSS and threads (/proc/PID/status).
func readResources(name string, pid int) procSample {
	p := "/proc/" + strconv.Itoa(pid)
	ps := procSample{Name: name}
	if ents, err := os.ReadDir(p + "/fd"); err == nil {
		ps.FDs = len(ents)
	}
	if b, err := os.ReadFile(p + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSuffix(strings.TrimSpace(v), " kB")
			switch k {
			case "VmRSS":
				kb, _ := strconv.ParseFloat(v, 64)
				ps.RSSMB = round1(kb / 1024)
			case "Threads":
				ps.Threads, _ = strconv.Atoi(v)
			}
		}
	}
	return ps
}

// scrapeGoroutines reads go_goroutines from a serve process's /metrics (-1
// when it does not answer).
func scrapeGoroutines(ctx context.Context, opsPort int) int {
	return int(scrapeMetric(ctx, opsPort, "go_goroutines"))
}

// scrapeMetric reads the unlabelled metric name from the /metrics of the
// operations listener on opsPort (-1 when it does not answer or has no such
// metric).
func scrapeMetric(ctx context.Context, opsPort int, name string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", opsPort), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// closeWindow turns window i's samples into medians and prints its line.
func (s *soak) closeWindow(i int, out io.Writer) {
	s.mu.Lock()
	w := &s.windows[i]
	w.Interval = i + 1
	w.Procs, w.DBConns = medians(w.raw), medianDB(w.rawDB)
	line := *w
	s.mu.Unlock()
	from := time.Duration(i) * s.o.interval
	fmt.Fprintf(out, "interval %d (%s-%s): %d transfers, %d errors; db connections %v\n", line.Interval, from, from+s.o.interval,
		line.Transfers, line.Errors, line.DBConns)
	for _, p := range line.Procs {
		fmt.Fprintf(out, "  %-36s goroutines %5d  fds %4d  rss %7.1f MB  threads %3d\n", p.Name, p.Goroutines, p.FDs, p.RSSMB, p.Threads)
	}
}

func medians(raw [][]procSample) []procSample {
	if len(raw) == 0 {
		return nil
	}
	var out []procSample
	for j, p := range raw[0] {
		var g, f, r, t []float64
		for _, snap := range raw {
			if j < len(snap) {
				g, f, r, t = append(g, float64(snap[j].Goroutines)), append(f, float64(snap[j].FDs)), append(r, snap[j].RSSMB), append(t, float64(snap[j].Threads))
			}
		}
		out = append(out, procSample{Name: p.Name, Goroutines: int(median(g)), FDs: int(median(f)), RSSMB: round1(median(r)), Threads: int(median(t))})
	}
	return out
}

func medianDB(raw []map[string]int) map[string]int {
	out := map[string]int{}
	for k := range firstOr(raw) {
		var v []float64
		for _, m := range raw {
			v = append(v, float64(m[k]))
		}
		out[k] = int(median(v))
	}
	return out
}

func firstOr(raw []map[string]int) map[string]int {
	if len(raw) == 0 {
		return nil
	}
	return raw[0]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// report adds up the intervals and judges first against last.
func (s *soak) report() *soakReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &soakReport{Patients: s.o.patients, WarmupS: s.o.warmup.Seconds(), DurationS: s.o.duration.Seconds(), IntervalS: s.o.interval.Seconds(),
		TolerancePct: s.o.tolerance, Logins: s.logins, CodeWaits: s.waits, LoginBusy: s.busy, Intervals: s.windows, ErrorSamples: s.samples, Flat: true,
		Slack: "goroutines +20, open fds +16, RSS +24 MB, database connections +4 on top of the percentage"}
	for _, w := range s.windows {
		rep.Transfers += w.Transfers
		rep.Errors += w.Errors
	}
	first, last := s.windows[0], s.windows[len(s.windows)-1]
	for j, p := range first.Procs {
		if j >= len(last.Procs) {
			break
		}
		l := last.Procs[j]
		if p.Goroutines >= 0 && l.Goroutines >= 0 {
			rep.judge(p.Name, "goroutines", float64(p.Goroutines), float64(l.Goroutines))
		}
		rep.judge(p.Name, "open_fds", float64(p.FDs), float64(l.FDs))
		rep.judge(p.Name, "rss_mb", p.RSSMB, l.RSSMB)
	}
	for k, v := range first.DBConns {
		rep.judge("database "+k, "db_connections", float64(v), float64(last.DBConns[k]))
	}
	if len(first.Procs) == 0 || len(last.Procs) == 0 {
		rep.Flat = false // no samples: nothing shows the resources stayed flat
	}
	return rep
}

func (rep *soakReport) judge(proc, metric string, first, last float64) {
	limit := round1(first*(1+rep.TolerancePct/100) + slack[metric])
	v := soakVerdict{Process: proc, Metric: metric, First: first, Last: last, Limit: limit, Flat: last <= limit}
	rep.Flat = rep.Flat && v.Flat
	rep.Verdict = append(rep.Verdict, v)
}

func (rep *soakReport) printVerdict(w io.Writer) {
	fmt.Fprintf(w, "\npgo bench soak: %d patients, %.0f s: %d transfers, %d errors, %d logins at both PGOs (%d waited for the next code, %d answered busy and tried again)\n",
		rep.Patients, rep.DurationS, rep.Transfers, rep.Errors, rep.Logins, rep.CodeWaits, rep.LoginBusy)
	fmt.Fprintf(w, "first interval -> last (flat: last <= first + %.0f%%; %s)\n", rep.TolerancePct, rep.Slack)
	for _, v := range rep.Verdict {
		mark := "flat"
		if !v.Flat {
			mark = "GREW"
		}
		fmt.Fprintf(w, "  %-36s %-15s %8.1f -> %8.1f  (limit %8.1f)  %s\n", v.Process, v.Metric, v.First, v.Last, v.Limit, mark)
	}
}
