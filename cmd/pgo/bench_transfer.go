package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
)

// transferPath finds the transfer id in the path of Zuid's progress page.
var transferPath = regexp.MustCompile(`/ophalen/([0-9a-f-]{36})$`)

var benchTransferCmd = &command{
	name:    "transfer",
	summary: "Drive complete transfers (patient login, consent, fetch, store) and print latency, stages, CPU and RSS.",
	usage:   "[--concurrency N] [--count M] [--dossier standard|large] [--json] [--noord URL --zuid URL --dir DIR]",
	run:     runBenchTransfer,
}

// transferRun is one scripted transfer's outcome.
type transferRun struct {
	id             string
	click, clicked time.Time // before the consent POST; after Zuid's progress page came back
	status, reason string
	watched        bool // its progress followed to done from another serve process
	err            error
}

func runBenchTransfer(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	r, o, err := openBench(ctx, e, fs, args, 10, 1, true)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(e.stderr, "[pgo bench] seeding %d patients with a %s dossier\n", o.count, o.dossier)
	ps, err := r.patients(ctx, o.count, dossier.Size(o.dossier))
	if err != nil {
		return err
	}
	t, err := r.transport(nil, 2*o.concurrency)
	if err != nil {
		return err
	}
	bs := r.scriptedBrowsers(ctx, t, len(ps))
	fmt.Fprintln(e.stderr, "[pgo bench] logging every patient in at both instances (not timed)")
	err = parallel(ctx, len(ps), loginConcurrency(o.concurrency), func(i int) error {
		if err := bs[i].loginAt("zuid", ps[i].zuid, ps[i].password); err != nil {
			return fmt.Errorf("login at Zuid: %w", err)
		}
		return bs[i].loginAt("noord", ps[i].noord, ps[i].password)
	})
	if err != nil {
		return err
	}
	r.startHub(ctx)
	renderMS := r.pureRender(ctx, ps[0].noordID)
	before := r.procStats()
	fmt.Fprintf(e.stderr, "[pgo bench] %d transfers, %d at a time\n", o.count, o.concurrency)
	runs := make([]transferRun, len(ps))
	start := time.Now()
	_ = parallel(ctx, len(ps), o.concurrency, func(i int) error {
		runs[i] = bs[i].transfer()
		return nil
	})
	wall := time.Since(start)
	rep := r.transferReport(ctx, o, runs, wall, before)
	rep.RenderMS = renderMS
	rep.finish()
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else {
		rep.print(e.stdout)
	}
	for _, run := range runs {
		if run.err != nil {
			fmt.Fprintf(e.stderr, "[pgo bench] transfer %s failed: %v\n", run.id, run.err)
		}
	}
	if rep.Failures > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("pgo bench transfer: %d of %d transfers failed (logs: %s/*/*.log)", rep.Failures, rep.Transfers, r.dir)}
	}
	return nil
}

// transfer is the patient's part, already logged in at both: choose PGO Noord
// at Zuid, follow the link to Noord's consent screen, consent with the
// categories ticked as offered, come back to Zuid, and wait for the outcome.
func (b *benchBrowser) transfer() (run transferRun) {
	zuid := b.r.issuer("zuid")
	p, err := b.do(http.MethodGet, zuid+"/ophalen", nil)
	if err != nil {
		return transferRun{err: err}
	}
	f, ok := findForm(p.body, "/ophalen")
	if !ok || len(f.radios["bron"]) == 0 {
		return transferRun{err: errors.New("no source to choose at Zuid's /ophalen")}
	}
	bron := f.radios["bron"][0]
	for _, v := range f.radios["bron"] {
		if strings.Contains(v, "noord") {
			bron = v
		}
	}
	if p, err = b.submit(p, "/ophalen", url.Values{"bron": {bron}}); err != nil {
		return transferRun{err: err}
	}
	m := transferPath.FindStringSubmatch(p.url.Path)
	if m == nil {
		return transferRun{err: fmt.Errorf("after choosing the source: at %s", p.url.Path)}
	}
	run.id = m[1]
	watch := b.watchProgress(run.id, 5*time.Minute) // before the consent: every change must come by NOTIFY
	if p, err = b.do(http.MethodGet, zuid+"/ophalen/"+run.id+"/toestemming", nil); err != nil {
		run.err = err
		return run
	}
	if p.url.Path != "/oauth/authorize" {
		run.err = fmt.Errorf("not at Noord's consent screen but at %s", p.url)
		return run
	}
	run.click = time.Now()
	p, err = b.submit(p, "/oauth/authorize", url.Values{"decision": {"allow"}})
	run.clicked = time.Now()
	if err != nil {
		run.err = err
		return run
	}
	if !strings.HasSuffix(p.url.Path, "/ophalen/"+run.id) {
		run.err = fmt.Errorf("after consenting: at %s", p.url.Path)
		return run
	}
	run.status, run.reason, run.err = b.r.waitTransfer(b.ctx, run.id, 5*time.Minute)
	if watch != nil && run.err == nil {
		run.err = watch.result(30 * time.Second)
		run.watched = run.err == nil
	}
	return run
}

// loginConcurrency is how many of the untimed logins run at once: at most as
// many as a serve process has password-check slots by default (2 per CPU,
// account.newHashSlots), so that no login waits for a slot and none is answered
// "very busy" (429) on a loaded machine, which ended the whole run.
func loginConcurrency(concurrency int) int { return max(1, min(concurrency, 2*nproc())) }

// startHub listens to Zuid's transfer changes (LISTEN pgo_transfer, as a
// progress page does) for waitTransfer, until Close.
func (r *benchRig) startHub(ctx context.Context) {
	a := r.apps["zuid"]
	if a == nil || r.hub != nil {
		return
	}
	hctx, cancel := context.WithCancel(ctx)
	r.hub = transferdb.NewHub(a.DB.URL(), a.Log)
	done := make(chan struct{})
	go func() { defer close(done); r.hub.Run(hctx) }()
	r.stopHub = func() { cancel(); <-done }
}

// waitTransfer reads Zuid's transfer row until it is done or failed: after every
// NOTIFY of the transfer when the hub runs (with a read every 500 ms besides, in
// case one was missed), else every 20 ms. The poll every 20 ms of 20 concurrent
// transfers was 1,000 queries a second on the two CPUs the transfers share
// (issue 16). The latency figures come from the audit records' times, not from
// this wait.
func (r *benchRig) waitTransfer(ctx context.Context, id string, timeout time.Duration) (status, reason string, err error) {
	deadline := time.Now().Add(timeout)
	var wake <-chan struct{}
	poll := 20 * time.Millisecond
	if r.hub != nil {
		ch, unsubscribe := r.hub.Subscribe(id) // before the first read: no change is missed
		defer unsubscribe()
		wake, poll = ch, 500*time.Millisecond
	}
	for {
		err = r.apps["zuid"].DB.Pool.QueryRow(ctx, `select status, coalesce(failure, '') from transfer where id = $1`, id).Scan(&status, &reason)
		if err != nil {
			return status, reason, err
		}
		switch {
		case status == "done":
			return status, reason, nil
		case status == "failed":
			return status, reason, fmt.Errorf("transfer failed: %s", reason)
		case time.Now().After(deadline):
			return status, reason, fmt.Errorf("transfer still %s after %s", status, timeout)
		}
		select {
		case <-ctx.Done():
			return status, reason, ctx.Err()
		case <-wake:
		case <-time.After(poll):
		}
	}
}

// pureRender renders the dossier of userID as its transfer does (the categories
// that hold data, which the consent screen offers ticked) in this process: Noord's
// dossier read, layout and PDF/A conversion, what the render task does before
// sealing. It runs before the timed transfers, on a quiet machine, once to warm up
// and then five times, and returns the median in ms (0 when it fails).
//
// Issue 16: it used to run three times after the timed transfers, while the
// instances were still settling; one run of 200 at 20 at a time measured 161.7 ms
// there against 54-70 ms in the runs before and after, which made the render-bound
// limit look three times lower and the share of it reached 60 % instead of ~21 %.
func (r *benchRig) pureRender(ctx context.Context, userID string) float64 {
	a := r.apps["noord"]
	rows, err := a.DB.Pool.Query(ctx, `select distinct category from dossier_resource where user_id = $1`, userID)
	if err != nil {
		return 0
	}
	raw, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(raw) == 0 {
		return 0
	}
	var cats []dossier.Category
	for _, ci := range dossier.Categories {
		if slices.Contains(raw, string(ci.Key)) {
			cats = append(cats, ci.Key)
		}
	}
	var ms []float64
	for i := range 6 {
		t := time.Now()
		if _, err := a.exportJobs().RenderSelection(ctx, io.Discard, userID, cats, 0, nil); err != nil {
			return 0
		}
		if i > 0 { // the first warms up (fonts, pools)
			ms = append(ms, float64(time.Since(t).Microseconds())/1000)
		}
	}
	sort.Float64s(ms)
	return ms[len(ms)/2]
}

// nproc is the number of CPUs this process may use.
func nproc() int { return runtime.NumCPU() }
