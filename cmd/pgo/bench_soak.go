package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	pgo "github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// `pgo bench soak` (issue 17): N scripted patients at once, each looping
// through login at both PGOs, a complete transfer and logout, for a bounded
// time on loopback. Every interval (a minute) it prints the transfers done, the
// errors, and each process's goroutines, open file descriptors and RSS; at the
// end it compares the first interval with the last. Growth beyond the
// tolerance there is what a leak looks like, so it fails the command, as does
// any error.

var benchSoakCmd = &command{
	name:    "soak",
	summary: "N patients loop through login, consent and transfer for a while; per minute transfers, errors, goroutines, fds, RSS; fails on errors or growth.",
	usage:   "[--patients N] [--duration D] [--interval I] [--warmup W] [--tolerance PCT] [--serve N --workers M] [--json]",
	run:     runBenchSoak,
}

// soakOptions are the soak's own flags (the rig's come from benchOptions).
type soakOptions struct {
	patients                   int
	duration, interval, warmup time.Duration
	tolerance                  float64
}

func (so *soakOptions) check(fs *flag.FlagSet) error {
	switch {
	case so.patients < 1:
		return usageError(fs, "--patients must be at least 1")
	case so.interval < 5*time.Second:
		return usageError(fs, "--interval must be at least 5s")
	case so.duration < 2*so.interval:
		return usageError(fs, "--duration must be at least two intervals (the verdict compares the first with the last)")
	case so.duration > 24*time.Hour:
		return usageError(fs, "--duration is at most 24h")
	case so.warmup < 0 || so.warmup > time.Hour:
		return usageError(fs, "--warmup must be between 0 and 1h")
	case so.tolerance < 0:
		return usageError(fs, "--tolerance must not be negative")
	}
	return nil
}

func runBenchSoak(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var so soakOptions
	fs.IntVar(&so.patients, "patients", 10, "scripted patients looping at the same time")
	fs.DurationVar(&so.duration, "duration", time.Minute, "how long patients start new rounds (running rounds then finish)")
	fs.DurationVar(&so.interval, "interval", time.Minute, "length of one reported interval")
	fs.DurationVar(&so.warmup, "warmup", 0, "rounds run this long before the first interval (not sampled; their transfers count in the first)")
	fs.Float64Var(&so.tolerance, "tolerance", 25, "allowed growth first interval -> last, percent (plus a small absolute slack per metric)")
	r, o, err := openBench(ctx, e, fs, args, 1, 1, true, so.check)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(e.stderr, "[pgo bench] seeding %d patients with a %s dossier\n", so.patients, o.dossier)
	ps, err := r.patients(ctx, so.patients, dossier.Size(o.dossier))
	if err != nil {
		return err
	}
	s, err := newSoak(r, so, ps)
	if err != nil {
		return err
	}
	out := e.stdout
	if o.json {
		out = e.stderr
	}
	fmt.Fprintf(e.stderr, "[pgo bench] soak: %d patients for %s, one line per %s\n", so.patients, so.duration, so.interval)
	rep := s.run(ctx, out)
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else {
		rep.printVerdict(e.stdout)
	}
	for _, m := range rep.ErrorSamples {
		fmt.Fprintf(e.stderr, "[pgo bench] error: %s\n", m)
	}
	switch {
	case rep.Errors > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("pgo bench soak: %d errors in %d rounds (logs: %s/*/*.log)", rep.Errors, rep.Transfers+rep.Errors, r.dir)}
	case !rep.Flat:
		return &exitError{code: 1, msg: "pgo bench soak: resources grew beyond the tolerance between the first and the last interval"}
	}
	return nil
}

// soak is one run: the patients' lanes, the counters per interval and the
// resource samples.
type soak struct {
	r     *benchRig
	o     soakOptions
	ps    []benchPatient
	ts    []*http.Transport
	start time.Time

	mu      sync.Mutex
	windows []soakWindow
	waits   int
	logins  int
	busy    int
	samples []string
}

func newSoak(r *benchRig, o soakOptions, ps []benchPatient) (*soak, error) {
	t, err := r.transport(nil, 2*o.patients)
	if err != nil {
		return nil, err
	}
	n := int((o.duration + o.interval - 1) / o.interval)
	return &soak{r: r, o: o, ps: ps, ts: r.pinnedTransports(t), windows: make([]soakWindow, n)}, nil
}

// run drives the lanes and the sampler for the duration, lets running rounds
// finish, and returns the report.
func (s *soak) run(ctx context.Context, out io.Writer) *soakReport {
	begin := time.Now()
	s.start = begin.Add(s.o.warmup) // the first interval starts after the warm-up
	stop := s.start.Add(s.o.duration)
	var wg sync.WaitGroup
	// The patients arrive over the first quarter interval (at most 15 s), not
	// all in one instant: a herd of simultaneous logins is refused by the
	// password-check slots (account.ErrBusy), which is the server shedding
	// load as designed, not what a soak measures.
	spread := min(s.o.interval/4, 15*time.Second) / time.Duration(len(s.ps))
	for i := range s.ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(begin.Add(time.Duration(i) * spread))):
			}
			s.lane(ctx, i, stop)
		}()
	}
	s.sample(ctx, stop, out)
	wg.Wait()
	return s.report()
}

// lane is one patient: rounds until stop. A round logs in afresh (after
// logging out) whenever the person's next login codes are free at both PGOs,
// and otherwise consents and transfers again in the session it has: a code is
// single-use, so one person logs in at most twice per 30 s step, and waiting
// for the next step would leave the service idle instead of loaded.
func (s *soak) lane(ctx context.Context, i int, stop time.Time) {
	var b *benchBrowser
	for ctx.Err() == nil && time.Now().Before(stop) {
		var err error
		b, err = s.round(ctx, i, b)
		s.count(err)
		if err != nil {
			b = nil  // start again with a login
			select { // an error is counted; the patient tries again a little later
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	if b != nil {
		if err := s.logout(b); err != nil {
			s.count(err)
		}
	}
}

// round is (when codes are free, or there is no session) logout and login at
// Zuid and Noord, then a complete transfer. It returns the browser to go on with.
func (s *soak) round(ctx context.Context, i int, b *benchBrowser) (*benchBrowser, error) {
	p := s.ps[i]
	if b == nil || s.codesFree(ctx, p) {
		if b != nil {
			if err := s.logout(b); err != nil {
				return nil, err
			}
		}
		b = s.r.pinnedBrowser(ctx, s.ts, i)
		for _, l := range []struct{ key, user string }{{"zuid", p.zuid}, {"noord", p.noord}} {
			if err := s.codeFree(ctx, l.key, l.user); err != nil {
				return nil, err
			}
			if err := s.login(ctx, b, l.key, l.user, p.password); err != nil {
				return nil, fmt.Errorf("login at %s: %w", l.key, err)
			}
		}
		s.mu.Lock()
		s.logins++
		s.mu.Unlock()
	}
	if run := b.transfer(); run.err != nil {
		return nil, fmt.Errorf("transfer %s: %w", run.id, run.err)
	}
	return b, nil
}

// login logs in at key; "very busy" (429 from the password-check slots) is
// counted apart and tried again after 2 s, as the page asks the patient to.
// The per-IP throttle is lifted for the bench (benchVars), so a 429 here is
// the slots. More than 10 in a row is an error.
func (s *soak) login(ctx context.Context, b *benchBrowser, key, user, password string) error {
	for try := 0; ; try++ {
		err := b.loginAt(key, user, password)
		var se *statusError
		if !errors.As(err, &se) || se.status != http.StatusTooManyRequests || se.path != "/login" || try == 10 {
			return err
		}
		if err := s.codeFree(ctx, key, user); err != nil {
			return err
		}
		s.mu.Lock()
		s.busy++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// logout posts the logout form at both PGOs.
func (s *soak) logout(b *benchBrowser) error {
	for _, key := range []string{"noord", "zuid"} {
		pg, err := b.do(http.MethodGet, s.r.issuer(key)+"/", nil)
		if err == nil {
			_, err = b.submit(pg, "/logout", nil)
		}
		if err != nil {
			return fmt.Errorf("logout at %s: %w", key, err)
		}
	}
	return nil
}

// codesFree reports whether p can log in at both PGOs without waiting.
func (s *soak) codesFree(ctx context.Context, p benchPatient) bool {
	for _, l := range [][2]string{{"zuid", p.zuid}, {"noord", p.noord}} {
		if _, err := s.r.code(ctx, l[0], l[1]); err != nil {
			return false
		}
	}
	return true
}

// codeFree waits while the account's login codes of this and the next 30 s
// step are used (a code is single-use: a person logs in at most twice per half
// minute), as a patient would wait for the next code of their app.
func (s *soak) codeFree(ctx context.Context, key, user string) error {
	for {
		_, err := s.r.code(ctx, key, user)
		if pgo.ErrorCode(err) != pgo.ECONFLICT {
			return err
		}
		s.mu.Lock()
		s.waits++
		s.mu.Unlock()
		next := time.Now().Truncate(30 * time.Second).Add(30 * time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		}
	}
}

// count books one round's outcome in the interval it ended in (rounds that end
// in the warm-up in the first, after the duration in the last one).
func (s *soak) count(err error) {
	w := min(max(0, int(time.Since(s.start)/s.o.interval)), len(s.windows)-1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.windows[w].Transfers++
		return
	}
	s.windows[w].Errors++
	if len(s.samples) < 10 {
		s.samples = append(s.samples, err.Error())
	}
}
