//go:build unix

package vault

import (
	"os"
	"path/filepath"
	"syscall"
)

// lock takes an exclusive advisory lock (flock) on the keyset file's
// directory, waiting for a holder to let go, so that two changes of one keyset
// (two `pgo keys rotate` at once) run one after the other: each reads what the
// other wrote, and no added key is lost. The directory rather than a lock file
// beside the keyset: nothing is left behind, and there is no lock file that a
// clean-up could remove under a waiting process. The lock goes with the
// process.
func (f *keysetFile) lock() (unlock func(), err error) {
	d, err := os.Open(filepath.Dir(f.path))
	if err != nil {
		return nil, f.errorf("cannot open its directory to lock it: %v", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, f.errorf("cannot lock its directory: %v", err)
	}
	return func() { _ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN); d.Close() }, nil
}
