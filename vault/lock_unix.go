//go:build unix

package vault

import (
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock (flock) on path+".lock", waiting for a
// holder to let go, so that two changes of one keyset file (two `pgo keys
// rotate` at once) run one after the other: each reads what the other wrote,
// and no added key is lost. The lock file stays; the lock goes with the
// process.
func (f *keysetFile) lock() (unlock func(), err error) {
	l, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, f.errorf("cannot open its lock file: %v", err)
	}
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX); err != nil {
		l.Close()
		return nil, f.errorf("cannot lock it: %v", err)
	}
	return func() { _ = syscall.Flock(int(l.Fd()), syscall.LOCK_UN); l.Close() }, nil
}
