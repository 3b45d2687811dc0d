package main

// Helpers for the fault-injection tests (issue 17): a Redis of the test's own
// that the test stops and starts (the machine's Redis stays up). The target PGO
// rig and the waiting helpers are in e2e_helpers_test.go.

import (
	"context"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownRedis is a redis-server child on a free loopback port. It runs the way we
// recommend for production: append-only file on (appendfsync everysec), so that
// tasks already in the queue survive a restart; RDB snapshots off.
type ownRedis struct {
	addr, dir string
	persist   []string // redis-server's persistence options
	cmd       *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	return startRedisWith(t, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
}

// startRedisWith starts an ownRedis with these persistence options instead.
func startRedisWith(t *testing.T, persist ...string) *ownRedis {
	t.Helper()
	r := &ownRedis{addr: closedPort(t), dir: t.TempDir(), persist: persist}
	r.Start(t)
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

// URL is the queue's Redis URL (DB 0 of this private server).
func (r *ownRedis) URL() string { return "redis://" + r.addr + "/0" }

// Start runs redis-server on the same port and directory and waits for PONG.
func (r *ownRedis) Start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--protected-mode", "yes"}, r.persist...)...)
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", r.addr)
		}
	}
}

// Stop shuts redis-server down the way an operator does (SIGTERM: it flushes the
// append-only file and exits).
func (r *ownRedis) Stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("redis-server exit: %v", err)
	}
	r.cmd = nil
}
