package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"
)

// transferReport is what `pgo bench transfer` prints (--json: this object).
type transferReport struct {
	Dossier     string             `json:"dossier"`
	Concurrency int                `json:"concurrency"`
	Transfers   int                `json:"transfers"`
	Failures    int                `json:"failures"`
	Serves      int                `json:"serve_processes"`     // per instance
	Workers     int                `json:"worker_processes"`    // per instance
	Watched     int                `json:"watched_other_serve"` // progress followed to done from another serve process
	P50         float64            `json:"p50_ms"`
	P95         float64            `json:"p95_ms"`
	P99         float64            `json:"p99_ms"`
	Max         float64            `json:"max_ms"`
	StoredP95   float64            `json:"stored_p95_ms"` // click to the document stored (before the revoke)
	WallS       float64            `json:"wall_s"`
	PerSecond   float64            `json:"per_second"`
	RenderMS    float64            `json:"render_ms"`
	Overhead    float64            `json:"overhead_factor"` // p50 end-to-end / pure render
	RenderBound float64            `json:"render_bound_per_second"`
	BoundPct    float64            `json:"render_bound_pct"`
	CPUPerXfer  float64            `json:"cpu_s_per_transfer"`
	Stages      map[string]float64 `json:"stages"`                      // p95 per stage, ms
	StagesP50   map[string]float64 `json:"stages_p50"`                  // p50 per stage, ms
	Slowest     map[string]float64 `json:"slowest"`                     // the stages of the transfer with the largest end-to-end time, ms
	RSS         map[string]float64 `json:"rss_mb"`                      // peak RSS per process
	CPU         map[string]float64 `json:"cpu_s"`                       // CPU seconds per process during the timed transfers
	RoundTrips  map[string]float64 `json:"db_round_trips_per_transfer"` // per process (pgo_db_round_trips_total), during the timed transfers
	StageSource string             `json:"stage_source"`
	NProc       int                `json:"nproc"`
	e2e, stored []float64
}

// stageOrder is the order stages are printed in: the chain of one transfer,
// then the render, which runs at Noord beside list and download.
var stageOrder = []string{"consent", "token", "queue_fetch", "list", "wait_render", "download", "verify_store", "revoke_finish",
	"queue_render", "render"}

var stageText = map[string]string{
	"consent":       "consent click -> grant and code recorded (Noord)",
	"token":         "redirect to Zuid, token request (mTLS), code redeemed (Zuid)",
	"queue_fetch":   "queue hop Zuid: outbox -> asynq -> fetch handler",
	"list":          "DocumentReference list",
	"wait_render":   "render still running after the list (rendered - listed)",
	"download":      "Binary: 202 + Retry-After rounds, the held read, the download",
	"verify_store":  "verify + encrypt + store",
	"revoke_finish": "revoke token + done",
	"queue_render":  "queue hop Noord: outbox -> asynq -> render handler (parallel)",
	"render":        "render + seal at Noord (parallel)",
}

// transferReport gathers the figures: end-to-end from the bench's clock at the
// consent click to the time of Zuid's transfer_completed audit record, and the
// stages from the audit records' event times of both instances under the
// transfer's correlation id (plus Noord's export_job started_at for the render
// hop). Both instances run on this machine, so their clocks are one clock.
func (r *benchRig) transferReport(ctx context.Context, o benchOptions, runs []transferRun, wall time.Duration, before []procStat) *transferReport {
	rep := &transferReport{Dossier: o.dossier, Concurrency: o.concurrency, Serves: o.serves, Workers: o.workers, Transfers: len(runs), WallS: wall.Seconds(),
		Stages: map[string]float64{}, StagesP50: map[string]float64{}, RSS: map[string]float64{}, CPU: map[string]float64{}, RoundTrips: map[string]float64{}, NProc: nproc(),
		StageSource: "audit records' event_time at both instances (correlation id) and Noord's export_job.started_at; end = Zuid's transfer_completed record"}
	per := map[string][]float64{}
	for _, run := range runs {
		if run.err != nil {
			rep.Failures++
			continue
		}
		if run.watched {
			rep.Watched++
		}
		st, err := r.stages(ctx, run)
		if err != nil {
			rep.Failures++
			continue
		}
		for k, v := range st {
			per[k] = append(per[k], v)
		}
		if rep.Slowest == nil || st["e2e"] > rep.Slowest["e2e"] {
			rep.Slowest = st
		}
	}
	for k, v := range rep.Slowest {
		rep.Slowest[k] = round1(v)
	}
	rep.e2e, rep.stored = per["e2e"], per["stored"]
	for _, k := range stageOrder {
		rep.Stages[k], rep.StagesP50[k] = pct(per[k], 95), pct(per[k], 50)
	}
	after := r.procStats()
	total := 0.0
	for i, a := range after {
		rep.RSS[a.Name] = round1(a.PeakMB)
		if i < len(before) {
			rep.CPU[a.Name] = round1(a.CPU - before[i].CPU)
			total += a.CPU - before[i].CPU
			if a.RoundTrips >= 0 && before[i].RoundTrips >= 0 && len(runs) > 0 {
				rep.RoundTrips[a.Name] = round1((a.RoundTrips - before[i].RoundTrips) / float64(len(runs)))
			}
		}
	}
	rep.CPUPerXfer = round3(total / float64(len(runs)))
	return rep
}

func (rep *transferReport) finish() {
	rep.P50, rep.P95, rep.P99, rep.Max = pct(rep.e2e, 50), pct(rep.e2e, 95), pct(rep.e2e, 99), pct(rep.e2e, 100)
	rep.StoredP95 = pct(rep.stored, 95)
	rep.PerSecond = round3(float64(rep.Transfers-rep.Failures) / rep.WallS)
	if rep.RenderMS > 0 {
		rep.Overhead = round3(rep.P50 / rep.RenderMS)
		rep.RenderBound = round3(float64(rep.NProc) / (rep.RenderMS / 1000))
		rep.BoundPct = round1(100 * rep.PerSecond / rep.RenderBound)
	}
}

// stages reads one transfer's audit records at both instances.
func (r *benchRig) stages(ctx context.Context, run transferRun) (map[string]float64, error) {
	var corr string
	if err := r.apps["zuid"].DB.Pool.QueryRow(ctx, `select correlation_id::text from transfer where id = $1`, run.id).Scan(&corr); err != nil {
		return nil, err
	}
	z, err := r.events(ctx, "zuid", corr)
	if err != nil {
		return nil, err
	}
	n, err := r.events(ctx, "noord", corr)
	if err != nil {
		return nil, err
	}
	var started time.Time
	_ = r.apps["noord"].DB.Pool.QueryRow(ctx, `select started_at from export_job where correlation_id = $1`, corr).Scan(&started)
	g, redeemed := first(n, "consent_granted", 0), first(z, "code_redeemed", 0)
	listStart, listed := first(z, "document_listed", 0), first(z, "document_listed", 1)
	fetched, stored, done := first(z, "document_fetched", 0), first(z, "document_fetched", 1), first(z, "transfer_completed", 0)
	rendered := first(n, "document_rendered", 0)
	for _, t := range []time.Time{g, redeemed, listStart, listed, fetched, stored, done, rendered} {
		if t.IsZero() {
			return nil, fmt.Errorf("transfer %s: an audit record is missing", run.id)
		}
	}
	wait := max(0, ms(rendered.Sub(listed)))
	s := map[string]float64{
		"e2e": ms(done.Sub(run.click)), "stored": ms(stored.Sub(run.click)),
		"consent": ms(g.Sub(run.click)), "token": ms(redeemed.Sub(g)), "queue_fetch": ms(listStart.Sub(redeemed)),
		"list": ms(listed.Sub(listStart)), "wait_render": wait, "download": ms(fetched.Sub(listed)) - wait,
		"verify_store": ms(stored.Sub(fetched)), "revoke_finish": ms(done.Sub(stored)),
	}
	if !started.IsZero() {
		s["queue_render"], s["render"] = ms(started.Sub(g)), ms(rendered.Sub(started))
	}
	return s, nil
}

type auditAt struct {
	action string
	at     time.Time
}

func (r *benchRig) events(ctx context.Context, key, corr string) ([]auditAt, error) {
	rows, err := r.apps[key].DB.Pool.Query(ctx, `select action, event_time from audit_log where correlation_id = $1 order by event_time, seq`, corr)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auditAt
	for rows.Next() {
		var a auditAt
		if err := rows.Scan(&a.action, &a.at); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// first is the time of the nth (from 0) record with action.
func first(evs []auditAt, action string, nth int) time.Time {
	for _, e := range evs {
		if e.action == action {
			if nth == 0 {
				return e.at
			}
			nth--
		}
	}
	return time.Time{}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile p of xs (p 100: the maximum), rounded to
// 0.1 ms; 0 for no values.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return round1(s[max(0, min(i, len(s)-1))])
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func (rep *transferReport) print(w io.Writer) {
	fmt.Fprintf(w, "pgo bench transfer: %d transfers of a %s dossier, %d at a time, %d failures, %d CPUs\n\n",
		rep.Transfers, rep.Dossier, rep.Concurrency, rep.Failures, rep.NProc)
	fmt.Fprintf(w, "end-to-end (consent click -> done)  p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms\n", rep.P50, rep.P95, rep.P99, rep.Max)
	fmt.Fprintf(w, "consent click -> stored             p95 %.1f ms\n", rep.StoredP95)
	fmt.Fprintf(w, "throughput                          %.3f transfers/s (%d in %.2f s)\n", rep.PerSecond, rep.Transfers-rep.Failures, rep.WallS)
	fmt.Fprintf(w, "pure render of the same dossier     %.1f ms (median of 5 before the run, this process)\n", rep.RenderMS)
	fmt.Fprintf(w, "end-to-end p50 / pure render        %.2f\n", rep.Overhead)
	fmt.Fprintf(w, "render-bound limit (CPUs / render)  %.2f transfers/s; reached %.1f%%\n", rep.RenderBound, rep.BoundPct)
	fmt.Fprintf(w, "CPU per transfer (all processes)    %.3f s\n\n", rep.CPUPerXfer)
	// slowest: the one transfer with the largest end-to-end time, to tell where
	// a tail comes from (a p95 of each stage can come from different transfers).
	fmt.Fprintf(w, "%-14s %9s %9s %9s  %s\n", "stage", "p50 ms", "p95 ms", "slowest", "")
	for _, k := range stageOrder {
		fmt.Fprintf(w, "%-14s %9.1f %9.1f %9.1f  %s\n", k, rep.StagesP50[k], rep.Stages[k], rep.Slowest[k], stageText[k])
	}
	fmt.Fprintf(w, "(stage times: %s)\n\n", rep.StageSource)
	names := make([]string, 0, len(rep.RSS))
	for k := range rep.RSS {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-36s %10s %14s %22s\n", "process", "peak RSS MB", "CPU s (timed)", "DB round trips/transfer")
	for _, k := range names {
		trips := "-"
		if t, ok := rep.RoundTrips[k]; ok {
			trips = strconv.FormatFloat(t, 'f', 1, 64)
		}
		fmt.Fprintf(w, "%-36s %10.1f %14.1f %22s\n", k, rep.RSS[k], rep.CPU[k], trips)
	}
}
