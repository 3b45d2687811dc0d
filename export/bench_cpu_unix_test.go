//go:build unix

package export

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system, all threads, the garbage collector
// included) this process has used so far. On a shared machine it varies much less
// than the wall time a rendering takes (issue 16).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
