package dossier

import (
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

// onePatient refuses an import that mixes people (PGOK-FR022: the document is one
// patient's dossier): a second Patient resource, a Patient other than the one the
// dossier already holds (stored, "" when none), or a subject/patient reference to
// a Patient other than the dossier's. The error names the entry and path, never
// an id (ids can hold names).
func onePatient(res []fhir.Resource, stored string) error {
	self, at := stored, -1
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
		case self == "":
			self, at = key, i
		case self != key && at >= 0:
			return mixed(r.Entry, "Patient", fmt.Sprintf("a second patient (the first is %s); a dossier holds one person's data", where(res[at].Entry)))
		case self != key:
			return mixed(r.Entry, "Patient", "another patient than the one this dossier holds; a dossier holds one person's data")
		default:
			at = i
		}
	}
	for _, r := range res {
		for _, ref := range r.Refs {
			target, ok := patientTarget(r.Type, ref, byURL)
			if !ok {
				continue
			}
			if self == "" {
				self = target // no Patient in the import or the store: the first one named
			}
			if target != self {
				return mixed(r.Entry, strings.TrimSuffix(ref.Path, ".reference"), "refers to another patient than the dossier's; a dossier holds one person's data")
			}
		}
	}
	return nil
}

// patientTarget returns "Patient/id" when ref is a top-level subject/patient
// reference of a resource of type typ that points at a Patient.
func patientTarget(typ string, ref fhir.Reference, byURL map[string]string) (string, bool) {
	elem, ok := strings.CutPrefix(ref.Path, typ+".")
	if !ok {
		return "", false
	}
	elem, ok = strings.CutSuffix(elem, ".reference")
	if !ok || !patientRefs[elem] {
		return "", false
	}
	if t, ok := byURL[ref.Value]; ok {
		return t, true
	}
	v := ref.Value
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

// storedPatient returns "Patient/id" of the Patient the user's dossier holds, or "".
func (s *Service) storedPatient(ctx context.Context, userID string) (string, error) {
	rows, err := s.store.Rows(ctx, userID, []Category{CatPatient})
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if r.Type != "Patient" {
			continue
		}
		plain, err := s.sealer.Open(r.ID, r.Sealed)
		if err != nil {
			return "", pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open dossier row %s: %w", r.ID, err), "")
		}
		n, err := decode(plain)
		if err != nil {
			return "", pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("decode dossier row %s: %w", r.ID, err), "")
		}
		return "Patient/" + n.str("id"), nil
	}
	return "", nil
}
