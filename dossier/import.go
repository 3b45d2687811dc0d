package dossier

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// ImportOptions tune one import.
type ImportOptions struct {
	Version   fhir.Version // "" detects STU3 or R4
	ActorType string       // audit actor type; "system" when empty
	ActorID   string       // audit actor id; "system" when empty
	RequestID string
}

// Result tells what an import stored.
type Result struct {
	ImportID string
	Version  fhir.Version
	Source   string
	Total    int
	Counts   map[Category]int
	// Warnings lists references of loose resources that resolve to nothing (a
	// directory is a partial export; a Bundle with such a reference is rejected).
	Warnings []string
}

// Import validates every resource of in and stores all of them in one transaction,
// sealed, with an audit record; when any resource is invalid nothing is stored and the
// error (code invalid) names the entry index or file, the FHIR path and the reason.
// Invalid are also: a resourceType that FHIR (the detected or given version) does
// not define, and data of another person than the dossier's patient (onePatient).
// Re-importing a resource (same type and id) replaces the stored one.
func (s *Service) Import(ctx context.Context, userID string, in Input, opt ImportOptions) (Result, error) {
	if err := checkUser(userID); err != nil {
		return Result{}, err
	}
	if len(in.Entries) == 0 {
		return Result{}, pgo.Errorf(pgo.EINVALID, "nothing to import: no resources")
	}
	v, res, err := validate(in, opt.Version)
	if err != nil {
		return Result{}, err
	}
	assignIDs(res)
	stored, err := s.storedPatient(ctx, userID)
	if err != nil {
		return Result{}, err
	}
	if err := onePatient(res, stored); err != nil {
		return Result{}, err
	}
	warnings, err := s.checkRefs(ctx, userID, in, res)
	if err != nil {
		return Result{}, err
	}
	info := ImportInfo{
		ID: uuid.NewString(), UserID: userID, Version: v, Source: in.Source,
		Counts: map[Category]int{}, ActorType: opt.ActorType, ActorID: opt.ActorID, RequestID: opt.RequestID,
	}
	if info.ActorType == "" {
		info.ActorType, info.ActorID = "system", "system"
	}
	rows := make([]Row, len(res))
	for i, r := range res {
		if rows[i], err = s.row(info, r); err != nil {
			return Result{}, err
		}
		info.Counts[rows[i].Category]++
	}
	if err := s.store.Save(ctx, info, rows); err != nil {
		return Result{}, err
	}
	return Result{ImportID: info.ID, Version: v, Source: in.Source, Total: len(rows), Counts: info.Counts, Warnings: warnings}, nil
}

// validate checks every entry as the given version, or as the detected one. Detection
// samples one entry per type; when the full check then fails, the other version is
// tried before the first error is reported.
func validate(in Input, given fhir.Version) (fhir.Version, []fhir.Resource, error) {
	if given != "" {
		res, err := fhir.Validate(given, in.Entries)
		return given, res, invalid(err)
	}
	v, err := fhir.Detect(in.Entries)
	if err != nil {
		return "", nil, invalid(fmt.Errorf("%w (neither valid STU3 nor R4)", err))
	}
	res, err := fhir.Validate(v, in.Entries)
	if err == nil {
		return v, res, nil
	}
	other := map[fhir.Version]fhir.Version{fhir.STU3: fhir.R4, fhir.R4: fhir.STU3}[v]
	if res2, err2 := fhir.Validate(other, in.Entries); err2 == nil {
		return other, res2, nil
	}
	return "", nil, invalid(err)
}

func (s *Service) row(info ImportInfo, r fhir.Resource) (Row, error) {
	id := uuid.NewString()
	sealed, err := s.sealer.Seal(id, r.JSON)
	if err != nil {
		return Row{}, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	key := RefKey(info.UserID, r.Type, r.ID)
	return Row{
		ID: id, ImportID: info.ID, Version: info.Version, Type: r.Type,
		Category: Classify(r.Type, r.JSON), RefKey: key[:], Sealed: sealed,
	}, nil
}

var uuidURN = regexp.MustCompile(`^urn:uuid:([0-9a-fA-F-]{36})$`)

// assignIDs gives resources without an id (allowed in a transaction Bundle, where the
// fullUrl identifies them) the uuid of their urn:uuid fullUrl, or a fresh uuid, and
// writes it into the stored JSON so later references and reads agree.
func assignIDs(res []fhir.Resource) {
	for i := range res {
		if res[i].ID != "" {
			continue
		}
		id := uuid.NewString()
		if m := uuidURN.FindStringSubmatch(res[i].FullURL); m != nil {
			id = strings.ToLower(m[1])
		}
		res[i].ID = id
		res[i].JSON = withID(res[i].JSON, id)
	}
}

// withID inserts "id" after the opening brace of a JSON object that has none.
func withID(obj []byte, id string) []byte {
	i := strings.IndexByte(string(obj), '{')
	out := make([]byte, 0, len(obj)+len(id)+10)
	out = append(out, obj[:i+1]...)
	out = append(out, `"id":"`+id+`",`...)
	return append(out, obj[i+1:]...)
}

// checkRefs resolves every reference inside the input, then asks the store for the
// rest. In a Bundle a reference that resolves to nothing is an error (with its entry
// index and path); for loose resources it becomes a warning.
func (s *Service) checkRefs(ctx context.Context, userID string, in Input, res []fhir.Resource) ([]string, error) {
	un, ferr := fhir.UnresolvedRefs(res)
	if ferr != nil {
		return nil, invalid(ferr)
	}
	if len(un) == 0 {
		return nil, nil
	}
	keys := make([][32]byte, len(un))
	for i, u := range un {
		typ, id, _ := strings.Cut(u.Target, "/")
		keys[i] = RefKey(userID, typ, id)
	}
	stored, err := s.store.Existing(ctx, userID, keys)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for i, u := range un {
		if stored[keys[i]] {
			continue
		}
		if in.Bundle() {
			return nil, invalid(u.Error())
		}
		warnings = append(warnings, u.Error().Error())
	}
	return warnings, nil
}
