package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
)

// readProc returns a process's CPU seconds (user + system, /proc/PID/stat fields
// 14 and 15 in clock ticks of 1/100 s, the Linux USER_HZ) and its peak resident
// set in MB (VmHWM in /proc/PID/status). Zero where /proc is not there.
func readProc(pid int) (cpu, peakMB float64) {
	p := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(p + "/stat"); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
			if len(f) > 12 {
				u, _ := strconv.ParseFloat(f[11], 64)
				k, _ := strconv.ParseFloat(f[12], 64)
				cpu = (u + k) / 100
			}
		}
	}
	if b, err := os.ReadFile(p + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				peakMB = kb / 1024
			}
		}
	}
	return cpu, peakMB
}

// auditKeys makes a's keyset the one that links audit records in this process
// (the chain keys are process-wide; the bench holds an App of both instances).
func auditKeys(a *App) { auditdb.UseChainKeys(a.Vault) }
