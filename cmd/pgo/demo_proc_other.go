//go:build !linux

package main

import "syscall"

// childAttr puts a demo child in its own process group (see demo_proc_linux.go).
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
