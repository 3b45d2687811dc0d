package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// demoProc is one child process (pgo serve or pgo worker of one instance).
type demoProc struct {
	name  string // "PGO Noord serve"
	ops   int    // port of its operations listener (/metrics), 0 when it has none
	port  int    // port of its public listener (serve), 0 for a worker
	cmd   *exec.Cmd
	log   string
	ready chan struct{} // closed when the process printed its ready line
	done  chan struct{} // closed when it exited
	err   error
}

// run starts both instances' server and worker, waits until both answer /healthz
// over TLS, prints the summary, and stops everything when ctx ends (Ctrl-C) or a
// process dies.
func (d *demo) run(ctx context.Context, e *env, start time.Time) error {
	var procs []*demoProc
	var urls []string
	for _, inst := range d.st.Instances {
		urls = append(urls, inst.Redis)
	}
	defer claimRedisDBs(ctx, e.stderr, urls)()
	stopAll := func() { stopProcs(procs, 30*time.Second) }
	defer stopAll()
	for i := range d.st.Instances {
		inst := &d.st.Instances[i]
		vars := d.st.instanceVars(d.dir, inst)
		for _, sub := range []struct{ cmd, ready string }{{"worker", "worker running"}, {"serve", "listening on https://"}} {
			p, err := startProc(inst.Name+" "+sub.cmd, filepath.Join(d.dir, inst.Key, sub.cmd+".log"), vars, sub.ready, sub.cmd)
			if err != nil {
				return err
			}
			procs = append(procs, p)
		}
	}
	if err := waitReady(ctx, procs, 60*time.Second); err != nil {
		return err
	}
	client, err := demoClient(d.caFile())
	if err != nil {
		return err
	}
	for _, inst := range d.st.Instances {
		if err := waitHealthy(ctx, client, inst.issuer()+"/healthz", 30*time.Second); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("pgo demo: %s does not answer /healthz: %v (log: %s)", inst.Name, err, filepath.Join(d.dir, inst.Key, "serve.log"))}
		}
	}
	for _, inst := range d.st.Instances {
		// Readiness (lists loaded, database, Redis) is on the operations listener;
		// a check that stays red is said, not hidden, but does not stop the demo.
		ops := fmt.Sprintf("http://127.0.0.1:%d/readyz", inst.OpsPort)
		if err := waitHealthy(ctx, &http.Client{Timeout: 5 * time.Second}, ops, 30*time.Second); err != nil {
			fmt.Fprintf(e.stderr, "[pgo demo] warning: %s is not ready (%v): see %s\n", inst.Name, err, ops)
		}
	}
	if err := d.summary(e, time.Since(start)); err != nil {
		return err
	}
	return waitEnd(ctx, e, procs)
}

// startProc runs this binary with args and the instance's settings; its output
// goes to logFile, and ready is closed when a stdout line contains readyLine.
func startProc(name, logFile string, vars map[string]string, readyLine string, args ...string) (*demoProc, error) {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = childEnviron(vars)
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &demoProc{name: name, cmd: cmd, log: logFile, ready: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(lf, sc.Text())
			// The listeners' ports as bound (a setting of port 0 lets the kernel
			// choose one, with no window for another process to take it first).
			if port, ok := listenPort(sc.Text(), "operations on http://"); ok {
				p.ops = port
			} else if port, ok := listenPort(sc.Text(), "listening on https://"); ok {
				p.port = port
			}
			if strings.Contains(sc.Text(), readyLine) {
				once.Do(func() { close(p.ready) })
			}
		}
		_, _ = io.Copy(lf, out)
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// listenPort reads the port of a line "PREFIX127.0.0.1:PORT" as the processes
// print it when they listen.
func listenPort(line, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return 0, false
	}
	addr, _, _ := strings.Cut(rest, " ")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(port)
	return n, err == nil
}

// logTail is the last n lines of a process's log, indented after a newline, for
// an error that would otherwise point at a log in a directory already removed
// (a test's temporary directory).
func logTail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(len(lines)-n, 0):]
	return "; its last lines:\n\t" + strings.Join(lines, "\n\t")
}

func waitReady(ctx context.Context, procs []*demoProc, timeout time.Duration) error {
	deadline := time.After(timeout)
	for _, p := range procs {
		select {
		case <-p.ready:
		case <-p.done:
			return &exitError{code: 1, msg: fmt.Sprintf("pgo demo: %s exited at start (%v); see %s%s", p.name, p.err, p.log, logTail(p.log, 5))}
		case <-deadline:
			return &exitError{code: 1, msg: fmt.Sprintf("pgo demo: %s not ready after %s; see %s", p.name, timeout, p.log)}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitEnd blocks until Ctrl-C (nil) or until a process exits on its own (error).
func waitEnd(ctx context.Context, e *env, procs []*demoProc) error {
	died := make(chan *demoProc, len(procs))
	for _, p := range procs {
		go func() { <-p.done; died <- p }()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "[pgo demo] stopping both PGOs")
		return nil
	case p := <-died:
		return &exitError{code: 1, msg: fmt.Sprintf("pgo demo: %s stopped (%v); see %s", p.name, p.err, p.log)}
	}
}

// stopProcs sends SIGTERM to every running child and waits; what is still running
// after timeout gets SIGKILL.
func stopProcs(procs []*demoProc, timeout time.Duration) {
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(timeout)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// demoClient trusts the demo CA and resolves *.localhost to loopback, as browsers
// do (RFC 6761 §6.3), so no /etc/hosts entry is needed.
func demoClient(caFile string) (*http.Client, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New(caFile + " holds no certificate")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, localhostAddr(addr))
		},
	}}, nil
}

// localhostAddr maps NAME.localhost:PORT to 127.0.0.1:PORT.
func localhostAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

func waitHealthy(ctx context.Context, c *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
