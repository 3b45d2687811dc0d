package dossier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// A ref key is the pseudonymous lookup key of a stored resource: it lets a later
// import resolve "Type/id" against stored resources (and replace a re-imported
// one) without storing FHIR ids, which can hold names or a BSN.
//
// It is HMAC-SHA256 (RFC 2104) under a key derived from the keyset (vault
// RefKeys), not a plain hash: the inputs are guessable (a BSN has 10^8 valid
// values, the user id and type are in the row), so an unkeyed hash in a database
// dump gives the id back by enumeration (issue 15). New rows are keyed with the
// primary key's ref key and record its key id (Row.RefKeyID). Lookups try the
// ref key under every key of the keyset, so that a `pgo keys rotate` does not
// hide the rows keyed before it (a re-import still replaces them); the rewrap
// task re-keys old rows to the primary key (Service.ReKey), after which the old
// key can leave the keyset. Rows stored before ref keys were keyed hold the
// unkeyed SHA-256 (LegacyRefKey, no key id) and are found the same way until
// re-keyed.

// RefKey is the ref key of (user, type, id) under key: HMAC-SHA256 over the three,
// NUL separated.
func RefKey(key []byte, userID, typ, id string) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(userID + "\x00" + typ + "\x00" + id))
	return [32]byte(m.Sum(nil))
}

// LegacyRefKey is the unkeyed ref key of rows stored before issue 15; only looked
// up (and re-keyed), never written.
func LegacyRefKey(userID, typ, id string) [32]byte {
	return sha256.Sum256([]byte(userID + "\x00" + typ + "\x00" + id))
}

// errNoRefKey: the sealer has no ref key for its primary key (a KMS-backed vault).
var errNoRefKey = pgo.Errorf(pgo.EINTERNAL, "the vault has no dossier ref key (it needs a keyset)")

// refKeys is one import's view of the ref keys: the primary to write with, every
// key to look up with (primary first).
type refKeys struct {
	primary uint32
	keys    [][]byte
}

func (s *Service) refKeys() (refKeys, error) {
	primary, all := s.sealer.RefKeys()
	k, ok := all[primary]
	if !ok {
		return refKeys{}, errNoRefKey
	}
	out := refKeys{primary: primary, keys: [][]byte{k}}
	ids := make([]uint32, 0, len(all))
	for id := range all {
		if id != primary {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		out.keys = append(out.keys, all[id])
	}
	return out, nil
}

// key is the ref key new rows get.
func (k refKeys) key(userID, typ, id string) [32]byte { return RefKey(k.keys[0], userID, typ, id) }

// candidates are every ref key (user, type, id) can be stored under.
func (k refKeys) candidates(userID, typ, id string) [][32]byte {
	out := make([][32]byte, 0, len(k.keys)+1)
	for _, key := range k.keys {
		out = append(out, RefKey(key, userID, typ, id))
	}
	return append(out, LegacyRefKey(userID, typ, id))
}

// ReKeyStore is what re-keying needs from PostgreSQL (dossierdb).
type ReKeyStore interface {
	// StaleRefKeys returns up to limit rows with ids after `after` (in id order)
	// whose ref key was not made with the key primary (or is unkeyed), with
	// UserID, Type, RefKey, Binding and Sealed set.
	StaleRefKeys(ctx context.Context, primary uint32, after string, limit int) ([]Row, error)
	// SetRefKey replaces row id's ref key old by key (made with keyID) if the row
	// still holds old; false when it does not (a concurrent re-import).
	SetRefKey(ctx context.Context, id string, old, key []byte, keyID uint32) (bool, error)
	// ReKeyPatient replaces the user's key of the dossier's patient of kind
	// k.Kind by k when it is one of old and was made with another key.
	ReKeyPatient(ctx context.Context, userID string, old [][]byte, k PatientKey) error
}

// ReKeyResult is what one batch of re-keying did (as store.RewrapResult).
type ReKeyResult struct {
	Next                 string // the last id looked at ("" = done)
	Moved, Raced, Failed int
}

// reKeyPatient re-keys the keys of the dossier's patient (dossier_patient) that
// the stored resource n names: a Patient's id and BSN, or the Patient or BSN of
// a subject/patient reference. Every resource of a dossier keyed with an old key
// is re-keyed by the task, and each names the patient (or is it), so the
// patient's keys move too before the old key may leave the keyset.
func reKeyPatient(ctx context.Context, st ReKeyStore, keys refKeys, userID, typ string, n node) error {
	for kind, v := range patientValues(typ, n) {
		cands := keys.candidates(userID, kind, v)
		old := make([][]byte, len(cands))
		for i := range cands {
			old[i] = cands[i][:]
		}
		k := keys.key(userID, kind, v)
		if err := st.ReKeyPatient(ctx, userID, old, PatientKey{Kind: kind, Key: k[:], KeyID: keys.primary}); err != nil {
			return err
		}
	}
	return nil
}

// patientValues returns what a stored resource says of whose data it is, per
// PatientKey kind: a Patient's id and BSN, or a subject/patient reference's
// Patient id (a literal [base/]Patient/id) or BSN (a logical reference).
func patientValues(typ string, n node) map[string]string {
	out := map[string]string{}
	if typ == "Patient" {
		out[KindPatient] = n.str("id")
		for _, id := range n.list("identifier") {
			if id.str("system") == fhir.BSNSystem && id.str("value") != "" {
				out[KindBSN] = id.str("value")
			}
		}
		return out
	}
	for elem := range patientRefs {
		ref := n.get(elem)
		if t, ok := patientTarget(ref.str("reference"), nil); ok {
			out[KindPatient] = strings.TrimPrefix(t, "Patient/")
		} else if id := ref.get("identifier"); ref.str("reference") == "" && id.str("system") == fhir.BSNSystem && id.str("value") != "" {
			out[KindBSN] = id.str("value")
		}
	}
	return out
}

// ReKey re-keys up to limit rows after `after` to the primary key's ref key: rows
// keyed before a rotation, and rows stored unkeyed before issue 15. The FHIR id
// is inside the sealed resource, so each row is opened. Part of the rewrap task
// (`pgo keys rewrap`); repeating it is harmless. Rows that do not open are
// counted and skipped.
func (s *Service) ReKey(ctx context.Context, st ReKeyStore, after string, limit int) (ReKeyResult, error) {
	var res ReKeyResult
	keys, err := s.refKeys()
	if err != nil {
		return res, err
	}
	rows, err := st.StaleRefKeys(ctx, keys.primary, after, limit)
	if err != nil {
		return res, err
	}
	for _, r := range rows {
		res.Next = r.ID
		plain, err := s.openRow(r.UserID, r)
		if err != nil {
			res.Failed++
			continue
		}
		n, err := decode(plain)
		clear(plain)
		if err != nil {
			res.Failed++
			continue
		}
		if err := reKeyPatient(ctx, st, keys, r.UserID, r.Type, n); err != nil {
			return res, err
		}
		key := keys.key(r.UserID, r.Type, n.str("id"))
		ok, err := st.SetRefKey(ctx, r.ID, r.RefKey, key[:], keys.primary)
		switch {
		case pgo.ErrorCode(err) == pgo.ECONFLICT:
			// another row of the account already holds this resource under the
			// primary key: a leftover that no lookup reaches. Counted, and the task
			// goes on, so that one such row does not stop every later batch and
			// table of every run (and with them the end of a key rotation).
			res.Failed++
		case err != nil:
			return res, err
		case ok:
			res.Moved++
		default:
			res.Raced++
		}
	}
	if len(rows) < limit {
		res.Next = ""
	}
	return res, nil
}
