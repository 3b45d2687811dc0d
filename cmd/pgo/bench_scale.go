package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo/web"
)

// Scale-out (issue 17): an instance of the bench may run several `pgo serve`
// and `pgo worker` processes on its one database and one Redis DB, as a PGO
// does when one process is no longer enough. Every serve process has its own
// port (and operations port); PGO_PUBLIC_URL stays the first one's, as behind a
// load balancer. A scripted patient is pinned to one serve process of each
// instance (a sticky load balancer), and watches its transfer's progress from
// another one.

// benchServe is one `pgo serve` process of an instance: its ports.
type benchServe struct {
	key           string
	port, opsPort int
	proc          *demoProc
}

// startInstances starts o.workers worker and o.serves serve processes of
// every instance and waits until each serve process answers /healthz.
func (r *benchRig) startInstances(ctx context.Context, d *demo, o benchOptions) error {
	for i := range d.st.Instances {
		inst := &d.st.Instances[i]
		base := d.st.instanceVars(d.dir, inst)
		for k, v := range benchVars {
			base[k] = v
		}
		if o.taskCheck > 0 { // read by the workers; serve checks it and leaves it
			base["PGO_WORKER_TASK_CHECK_INTERVAL"] = o.taskCheck.String()
		}
		for n := 1; n <= o.workers; n++ {
			// Each worker's operations listener on a port of its own, so that a
			// run can be profiled where the renders happen: the kernel chooses it
			// (port 0) and startProc reads it from the "operations on" line. A port
			// chosen here beforehand could be taken by another process (a test
			// run's client connection) before the worker bound it: a fresh-clone
			// CI once lost TestScaleOut to "PGO Noord worker 2 exited at start".
			vars := map[string]string{"PGO_WORKER_OPS_ADDR": "127.0.0.1:0"}
			for k, v := range base {
				vars[k] = v
			}
			p, err := startProc(procName(inst.Name+" worker", n), filepath.Join(d.dir, inst.Key, logName("worker", n)), vars, "worker running", "worker")
			if err != nil {
				return err
			}
			r.procs = append(r.procs, p)
		}
		for n := 1; n <= o.serves; n++ {
			// The first serve process has the instance's ports (its URL is on the
			// lists); the kernel chooses the others' (port 0), read from their
			// "listening on" and "operations on" lines once they are ready.
			s := benchServe{key: inst.Key}
			if n == 1 {
				s.port, s.opsPort = inst.Port, inst.OpsPort
			}
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			vars["PGO_HTTP_ADDR"] = "127.0.0.1:" + strconv.Itoa(s.port)
			vars["PGO_OPS_ADDR"] = "127.0.0.1:" + strconv.Itoa(s.opsPort)
			p, err := startProc(procName(inst.Name+" serve", n), filepath.Join(d.dir, inst.Key, logName("serve", n)), vars, "listening on https://", "serve")
			if err != nil {
				return err
			}
			s.proc = p
			r.procs = append(r.procs, p)
			r.serves = append(r.serves, s)
		}
	}
	if err := waitReady(ctx, r.procs, 60*time.Second); err != nil {
		return err
	}
	for i := range r.serves {
		r.serves[i].port, r.serves[i].opsPort = r.serves[i].proc.port, r.serves[i].proc.ops
	}
	client, err := demoClient(d.caFile())
	if err != nil {
		return err
	}
	for _, s := range r.serves {
		u := fmt.Sprintf("https://%s:%d/healthz", r.st.instance(s.key).Host, s.port)
		if err := waitHealthy(ctx, client, u, 30*time.Second); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("pgo bench: %s does not answer /healthz: %v (log: %s)", s.proc.name, err, s.proc.log)}
		}
	}
	return nil
}

// procName is "PGO Noord serve" for the first process, "PGO Noord serve 2" after.
func procName(base string, n int) string {
	if n == 1 {
		return base
	}
	return base + " " + strconv.Itoa(n)
}

func logName(cmd string, n int) string {
	if n == 1 {
		return cmd + ".log"
	}
	return cmd + "-" + strconv.Itoa(n) + ".log"
}

// servesOf is the number of serve processes per instance.
func (r *benchRig) servesOf() int {
	n := 0
	for _, s := range r.serves {
		if s.key == r.serves[0].key {
			n++
		}
	}
	return max(n, 1)
}

// pinned returns a copy of t whose connections to an instance's public port go
// to that instance's serve process number pin (from 0) instead: the sticky
// load balancer in front of the serve processes.
func (r *benchRig) pinned(t *http.Transport, pin int) *http.Transport {
	to := map[string]string{}
	for _, inst := range r.st.Instances {
		n := 0
		for _, s := range r.serves {
			if s.key != inst.Key {
				continue
			}
			if n == pin%r.servesOf() {
				to[strconv.Itoa(inst.Port)] = strconv.Itoa(s.port)
			}
			n++
		}
	}
	c := t.Clone()
	dial := t.DialContext
	c.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && to[port] != "" {
			addr = net.JoinHostPort(host, to[port])
		}
		return dial(ctx, network, addr)
	}
	return c
}

// pinnedTransports derives from t one transport per serve process of an
// instance (pinned: connections to the public port go to that process).
func (r *benchRig) pinnedTransports(t *http.Transport) []*http.Transport {
	ts := make([]*http.Transport, r.servesOf())
	for i := range ts {
		ts[i] = r.pinned(t, i)
	}
	return ts
}

// pinnedBrowser is patient i's browser (a fresh cookie jar) over ts[i mod S];
// with more than one serve process it watches progress through ts[i+1 mod S].
func (r *benchRig) pinnedBrowser(ctx context.Context, ts []*http.Transport, i int) *benchBrowser {
	b := r.browser(ctx, ts[i%len(ts)])
	if len(ts) > 1 {
		b.watch = &http.Client{Transport: ts[(i+1)%len(ts)], Jar: b.c.Jar}
	}
	return b
}

// scriptedBrowsers makes n patients' browsers (pinnedBrowser) over transports
// derived from t.
func (r *benchRig) scriptedBrowsers(ctx context.Context, t *http.Transport, n int) []*benchBrowser {
	ts := r.pinnedTransports(t)
	bs := make([]*benchBrowser, n)
	for i := range bs {
		bs[i] = r.pinnedBrowser(ctx, ts, i)
	}
	return bs
}

// progressWatch is a progress stream opened on another serve process than the
// one the patient works with, before the consent: every state after the first
// can only reach it through PostgreSQL LISTEN/NOTIFY from the other processes.
type progressWatch struct {
	done   chan struct{}
	cancel context.CancelFunc
	states []string
	err    error
}

// watchProgress opens the transfer's event stream through b.watch (nil without
// a second serve process) and follows it in the background until the stream
// ends, ctx ends, or timeout passes.
func (b *benchBrowser) watchProgress(id string, timeout time.Duration) *progressWatch {
	if b.watch == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	w := &progressWatch{done: make(chan struct{}), cancel: cancel}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.r.issuer("zuid")+"/ophalen/"+id+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.watch.Do(req)
	if err == nil && resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err = fmt.Errorf("progress stream: status %d", resp.StatusCode)
	}
	if err != nil {
		cancel()
		w.err = err
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		defer cancel()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var st web.TransferState
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				w.err = fmt.Errorf("progress stream: %w", err)
				return
			}
			w.states = append(w.states, st.Status)
		}
		w.err = sc.Err()
	}()
	return w
}

// result waits (at most grace: the transfer is done by then) for the stream's
// end and checks that it saw the transfer move (more than one state) and end
// done.
func (w *progressWatch) result(grace time.Duration) error {
	select {
	case <-w.done:
	case <-time.After(grace):
		w.cancel()
		<-w.done
		return fmt.Errorf("progress from the other serve process: still %v %s after the transfer was done (no NOTIFY?)", w.states, grace)
	}
	if w.err != nil {
		return w.err
	}
	if len(w.states) < 2 || w.states[len(w.states)-1] != "done" {
		return fmt.Errorf("progress from the other serve process: states %v, want a change ending in done", w.states)
	}
	return nil
}
