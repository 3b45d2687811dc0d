//go:build unix

// Package cputime reads the CPU time this process has used, for benchmarks that
// report CPU per operation: on a shared machine it varies much less than the wall
// time (issue 16).
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time (user + system, all threads, the garbage collector
// included) this process has used so far; 0 if the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
