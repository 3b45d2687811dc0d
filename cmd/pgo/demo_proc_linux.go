package main

import "syscall"

// childAttr puts a demo child in its own process group (a terminal's Ctrl-C
// reaches only the demo, which stops the children in order) and has the kernel
// send it SIGTERM should the demo itself die without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
