package vault

import (
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// Key rotation (NIST SP 800-57 part 1, 5.3: limit the data protected by one key, and
// replace a key that may be compromised). A rotation adds a key; it never removes one,
// because objects wrapped by the old key must stay readable until the re-encrypt task
// has passed them through Rewrap / RewrapStream.
//
// A process reads the keyset once, at start. With one instance, RotateKeyset and a
// restart are enough. With several instances that share the file, rotate in two
// steps so that no instance meets an object wrapped by a key it does not know yet:
// StageKey (the new key is known everywhere after a rolling restart, but not used),
// then PromoteKey (after a second rolling restart every writer uses it).

// RotateKeyset adds a new AES-256-GCM key to the keyset at path and makes it the
// primary at once: new objects are wrapped with it and the old keys stay enabled so
// that old objects still open. Restart every process that reads the file.
func RotateKeyset(path string, opts ...Option) (KeyInfo, error) {
	return addKey(newKeysetFile(path, opts), true)
}

// StageKey adds a new AES-256-GCM key to the keyset at path without making it the
// primary: the first step of a rotation across several instances.
func StageKey(path string, opts ...Option) (KeyInfo, error) {
	return addKey(newKeysetFile(path, opts), false)
}

// PromoteKey makes the enabled key id of the keyset at path the primary: the second
// step of a rotation across several instances.
func PromoteKey(path string, id uint32, opts ...Option) (KeyInfo, error) {
	f := newKeysetFile(path, opts)
	unlock, err := f.lock()
	if err != nil {
		return KeyInfo{}, err
	}
	defer unlock()
	h, err := f.read()
	if err != nil {
		return KeyInfo{}, err
	}
	if !hasEnabledKey(h, id) {
		return KeyInfo{}, f.errorf("has no enabled key %d (see `pgo keys info`)", id)
	}
	m := keyset.NewManagerFromHandle(h)
	if err := m.SetPrimary(id); err != nil {
		return KeyInfo{}, f.errorf("cannot make key %d primary: %v", id, err)
	}
	return f.commit(m)
}

// addKey reads, changes and writes the keyset under its file lock, so that a
// concurrent change cannot overwrite the key added here (it would report
// "added key N" for a key that is not in the file, and whatever a process
// sealed under N could never be opened).
func addKey(f *keysetFile, primary bool) (KeyInfo, error) {
	unlock, err := f.lock()
	if err != nil {
		return KeyInfo{}, err
	}
	defer unlock()
	h, err := f.read()
	if err != nil {
		return KeyInfo{}, err
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return KeyInfo{}, f.errorf("cannot add a key: %v", err)
	}
	if primary {
		if err := m.SetPrimary(id); err != nil {
			return KeyInfo{}, f.errorf("cannot make key %d primary: %v", id, err)
		}
	}
	if _, err := f.commit(m); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: id, Primary: primary, Status: "enabled", Type: "AES256_GCM"}, nil
}

// commit writes the manager's keyset back to the file and returns its primary.
func (f *keysetFile) commit(m *keyset.Manager) (KeyInfo, error) {
	h, err := m.Handle()
	if err != nil {
		return KeyInfo{}, f.errorf("cannot build the changed keyset: %v", err)
	}
	if err := f.write(h, false); err != nil {
		return KeyInfo{}, err
	}
	return primaryInfo(h), nil
}

func hasEnabledKey(h *keyset.Handle, id uint32) bool {
	for _, k := range keyInfos(h) {
		if k.ID == id && k.Status == "enabled" {
			return true
		}
	}
	return false
}

// ReadKeysetInfo lists the keys of the keyset at path (ids, status, which is primary),
// after the same checks as Open.
func ReadKeysetInfo(path string, opts ...Option) ([]KeyInfo, error) {
	h, err := newKeysetFile(path, opts).read()
	if err != nil {
		return nil, err
	}
	return keyInfos(h), nil
}

func keyInfos(h *keyset.Handle) []KeyInfo {
	info := h.KeysetInfo()
	out := make([]KeyInfo, 0, len(info.GetKeyInfo()))
	for _, k := range info.GetKeyInfo() {
		out = append(out, KeyInfo{
			ID:      k.GetKeyId(),
			Primary: k.GetKeyId() == info.GetPrimaryKeyId(),
			Status:  strings.ToLower(k.GetStatus().String()),
			Type:    "AES256_GCM",
		})
	}
	return out
}
