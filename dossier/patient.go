package dossier

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// patientRefs are the elements by which a resource says whose data it is (STU3 and
// R4): subject, patient, and a Coverage's beneficiary. Other references to a
// Patient (a Coverage's subscriber, a RelatedPerson's patient is the same person)
// are not checked here: they may name someone else on purpose.
var patientRefs = map[string]bool{"subject": true, "patient": true, "beneficiary": true}

// The kinds of PatientKey: the Patient's FHIR id ("Patient/id" as a ref key, the
// same key as its stored row) and its BSN.
const (
	KindPatient = "Patient"
	KindBSN     = "bsn"
)

// PatientKey is one way the dossier's patient is known, kept as a ref key
// (RefKey(key, user, Kind, value)) so that neither the FHIR id nor the BSN is
// stored in the clear.
type PatientKey struct {
	Kind  string // KindPatient or KindBSN
	Key   []byte
	KeyID uint32 // the keyset key id the ref key was made with
}

// patient is who the dossier is about while an import is checked: what the
// dossier already knows (keyed, from the store, or plain, from a stored Patient
// resource of a dossier imported before the keys were kept) and what this import
// adds. The first import fixes it, also when it holds no Patient resource: else
// each import of loose resources could name its own patient.
type patient struct {
	user  string
	keys  refKeys
	plain map[string]string     // kind -> "Patient/id" or BSN, as this import knows it
	keyed map[string]PatientKey // kind -> as stored
	dirty map[string]bool       // kinds to store (new, or keyed with an older key)
}

func newPatient(user string, keys refKeys, stored []PatientKey) *patient {
	p := &patient{user: user, keys: keys, plain: map[string]string{}, keyed: map[string]PatientKey{}, dirty: map[string]bool{}}
	for _, k := range stored {
		p.keyed[k.Kind] = k
	}
	return p
}

// same reports whether value (of kind) is the dossier's patient's; the first
// value of a kind the dossier does not know yet becomes the dossier's.
func (p *patient) same(kind, value string) bool {
	if v, ok := p.plain[kind]; ok {
		return v == value
	}
	if k, ok := p.keyed[kind]; ok {
		id := value
		if kind == KindPatient {
			id = strings.TrimPrefix(value, "Patient/")
		}
		match := false
		for _, c := range p.keys.candidates(p.user, kind, id) {
			match = match || bytes.Equal(c[:], k.Key)
		}
		if !match {
			return false
		}
		p.dirty[kind] = k.KeyID != p.keys.primary // re-key with the primary key
	} else {
		p.dirty[kind] = true
	}
	p.plain[kind] = value
	return true
}

// changed returns the keys to store: those learned by this import, and those
// that were stored under an older key of the keyset.
func (p *patient) changed() []PatientKey {
	var out []PatientKey
	for _, kind := range []string{KindPatient, KindBSN} {
		if !p.dirty[kind] {
			continue
		}
		v := p.plain[kind]
		if kind == KindPatient {
			v = strings.TrimPrefix(v, "Patient/")
		}
		k := p.keys.key(p.user, kind, v)
		out = append(out, PatientKey{Kind: kind, Key: k[:], KeyID: p.keys.primary})
	}
	return out
}

// onePatient refuses an import that mixes people (PGOK-FR022: the document is one
// patient's dossier): a second Patient resource, a Patient other than the one the
// dossier already holds, a subject/patient reference to another Patient (literal,
// a contained Patient, or a logical reference by another BSN). The error names the
// entry and path, never an id or a BSN (ids can hold names).
func onePatient(res []fhir.Resource, p *patient) error {
	at := -1
	byURL := map[string]string{}
	for i, r := range res {
		if r.Type != "Patient" {
			continue
		}
		key := "Patient/" + r.ID
		if r.FullURL != "" {
			byURL[r.FullURL] = key
		}
		switch {
		case at >= 0 && key != "Patient/"+res[at].ID:
			return mixed(r.Entry, "Patient", fmt.Sprintf("a second patient (the first is %s); a dossier holds one person's data", where(res[at].Entry)))
		case !p.same(KindPatient, key) || r.BSN != "" && !p.same(KindBSN, r.BSN):
			return mixed(r.Entry, "Patient", "another patient than the one this dossier holds; a dossier holds one person's data")
		}
		at = i
	}
	for _, r := range res {
		for _, ref := range r.Refs {
			if err := checkPatientRef(r, ref, byURL, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPatientRef checks one reference of r, if it is a top-level subject/patient.
func checkPatientRef(r fhir.Resource, ref fhir.Reference, byURL map[string]string, p *patient) error {
	elem, ok := strings.CutPrefix(ref.Path, r.Type+".")
	if !ok {
		return nil
	}
	elem, isRef := strings.CutSuffix(elem, ".reference")
	elem, isID := strings.CutSuffix(elem, ".identifier")
	if !patientRefs[elem] || !isRef && !isID {
		return nil
	}
	path := r.Type + "." + elem
	switch {
	case ref.Value == "": // a logical reference by BSN
		if !p.same(KindBSN, ref.BSN) {
			return mixed(r.Entry, path, "refers to another patient than the dossier's (by BSN); a dossier holds one person's data")
		}
	case strings.HasPrefix(ref.Value, "#"):
		if ref.Contained != "Patient" {
			return nil
		}
		// A contained Patient is not the dossier's Patient resource; it may only
		// stand for the dossier's patient by the same BSN.
		if ref.BSN == "" || !p.same(KindBSN, ref.BSN) {
			return mixed(r.Entry, path, "refers to a contained Patient that is not the dossier's patient; a dossier holds one person's data")
		}
	default:
		target, ok := patientTarget(ref.Value, byURL)
		if ok && !p.same(KindPatient, target) {
			return mixed(r.Entry, path, "refers to another patient than the dossier's; a dossier holds one person's data")
		}
	}
	return nil
}

// patientTarget returns "Patient/id" when the literal reference v points at a
// Patient (in the Bundle by its fullUrl, or [base/]Patient/id).
func patientTarget(v string, byURL map[string]string) (string, bool) {
	if t, ok := byURL[v]; ok {
		return t, true
	}
	if i := strings.Index(v, "/_history/"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, "/")
	if len(parts) < 2 || parts[len(parts)-2] != "Patient" {
		return "", false
	}
	return "Patient/" + parts[len(parts)-1], true
}

func where(e fhir.Entry) string {
	if e.Source != "" {
		return "file " + e.Source
	}
	return fmt.Sprintf("entry %d", e.Index)
}

func mixed(e fhir.Entry, path, reason string) error {
	return invalid(&fhir.Error{Entry: e.Index, Source: e.Source, Path: path, Reason: reason})
}

// dossierPatient returns who the dossier is about, read inside the import's
// transaction w (which serialises imports of the user, so that two imports
// cannot each fix another patient). A dossier stored before the patient was
// kept as keys is known by its stored Patient resource.
func (s *Service) dossierPatient(ctx context.Context, w Writer, userID string, keys refKeys) (*patient, error) {
	stored, err := w.Patient(ctx, userID)
	if err != nil || len(stored) > 0 {
		return newPatient(userID, keys, stored), err
	}
	p := newPatient(userID, keys, nil)
	id, bsn, err := s.storedPatient(ctx, userID)
	if err != nil {
		return nil, err
	}
	if id != "" {
		p.plain[KindPatient], p.dirty[KindPatient] = id, true
	}
	if bsn != "" {
		p.plain[KindBSN], p.dirty[KindBSN] = bsn, true
	}
	return p, nil
}

// storedPatient returns "Patient/id" and the BSN ("" when none, or masked) of the
// Patient the user's dossier holds, or "".
func (s *Service) storedPatient(ctx context.Context, userID string) (id, bsn string, err error) {
	rows, err := s.store.Rows(ctx, userID, []Category{CatPatient})
	if err != nil {
		return "", "", err
	}
	for _, r := range rows {
		if r.Type != "Patient" {
			continue
		}
		plain, err := s.openRow(userID, r)
		if err != nil {
			return "", "", pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open dossier row %s: %w", r.ID, err), "")
		}
		n, err := decode(plain)
		if err != nil {
			return "", "", pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("decode dossier row %s: %w", r.ID, err), "")
		}
		if bsn = fhir.BSN(plain); bsn == fhir.Masked {
			bsn = ""
		}
		return "Patient/" + n.str("id"), bsn, nil
	}
	return "", "", nil
}
