package dossier

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
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
// not define, two entries with one fullUrl (bdl-7), and data of another person
// than the dossier's patient (onePatient; the first import fixes who that is).
// Re-importing a resource (same type and id) replaces the stored one. Imports of
// one user run one at a time (Store.Begin).
//
// The entries stream (issue 15: an import took 11x its input in memory): a Bundle
// file is read entry by entry (Input.each), validated, sealed and written in
// batches inside the one transaction; only each resource's type, id, fullUrl and
// references stay in memory for the checks that need all of them (one patient,
// references), which run before the commit.
//
// At most MaxInputEntries entries are imported (ETOOLARGE). A refused import
// (invalid or too large input, a user id of no patient account) stores nothing
// but its audit record (NEN 7513: failed actions are logged too), outcome
// failure with the error's code as reason, never its message (Store.Refused).
func (s *Service) Import(ctx context.Context, userID string, in Input, opt ImportOptions) (Result, error) {
	info := importInfo(userID, in.Source, opt)
	res, err := s.importAll(ctx, in, info, opt.Version)
	return res, s.refused(ctx, info, err)
}

// ImportPath reads path (ReadPath) and imports it. Input refused while it is
// read (not JSON, too large, a pipe) is audited like a refused import.
func (s *Service) ImportPath(ctx context.Context, userID, path string, opt ImportOptions) (Result, error) {
	in, err := ReadPath(path)
	if err != nil {
		return Result{}, s.refused(ctx, importInfo(userID, "path", opt), err)
	}
	return s.Import(ctx, userID, in, opt)
}

func importInfo(userID, source string, opt ImportOptions) ImportInfo {
	info := ImportInfo{
		ID: uuid.NewString(), UserID: userID, Source: source,
		ActorType: opt.ActorType, ActorID: opt.ActorID, RequestID: opt.RequestID,
	}
	if info.ActorType == "" {
		info.ActorType, info.ActorID = "system", "system"
	}
	return info
}

// refused returns err, after appending the audit record of the refusal when
// err refuses the import (Store.Refused); an error writing it is returned instead.
func (s *Service) refused(ctx context.Context, info ImportInfo, err error) error {
	if err == nil || !refusal(err) {
		return err
	}
	if checkUser(info.UserID) != nil {
		info.UserID = "" // not an account id: it may be a BSN typed by mistake
	}
	if aerr := s.store.Refused(ctx, info, refusedReason(err)); aerr != nil {
		return aerr
	}
	return err
}

// refusal reports whether err refuses the import (rather than failing it): a
// refusal is audited.
func refusal(err error) bool {
	switch pgo.ErrorCode(err) {
	case pgo.EINVALID, pgo.ETOOLARGE, pgo.ENOTFOUND, pgo.EFORBIDDEN, pgo.ECONFLICT:
		return true
	}
	return false
}

// refusedReason is the audit reason code of a refusal: the error's code, or the
// last part of its translation key (dossier.reason.unknown_user: unknown_user).
// Never its message, which may quote an id or reference of the input.
func refusedReason(err error) string {
	if errors.Is(err, ErrNotPatient) {
		return "not_a_patient"
	}
	if r := pgo.ErrorReason(err); r != "" {
		return r[strings.LastIndexByte(r, '.')+1:]
	}
	return pgo.ErrorCode(err)
}

// importAll is Import without the audit record of a refusal.
func (s *Service) importAll(ctx context.Context, in Input, info ImportInfo, given fhir.Version) (Result, error) {
	if err := checkUser(info.UserID); err != nil {
		return Result{}, err
	}
	if in.size() == 0 {
		return Result{}, pgo.Errorf(pgo.EINVALID, "nothing to import: no resources")
	}
	if in.size() > limits.entries {
		return Result{}, tooManyEntries("the input")
	}
	keys, err := s.refKeys()
	if err != nil {
		return Result{}, err
	}
	v, err := detect(in, given)
	if err != nil {
		return Result{}, err
	}
	info.Version = v
	res, err := s.attempt(ctx, in, info, keys)
	var first invalidEntry
	if !errors.As(err, &first) {
		return res, err
	}
	if given != "" {
		return Result{}, invalid(first.err)
	}
	// Detection samples one entry per type; when the full check fails, the other
	// version is tried before the first error is reported.
	info.ID, info.Version = uuid.NewString(), map[fhir.Version]fhir.Version{fhir.STU3: fhir.R4, fhir.R4: fhir.STU3}[v]
	res, err = s.attempt(ctx, in, info, keys)
	if errors.As(err, new(invalidEntry)) {
		return Result{}, invalid(first.err)
	}
	return res, err
}

// invalidEntry is a validation error of one entry: the import may be tried again
// as the other FHIR version.
type invalidEntry struct{ err error }

func (e invalidEntry) Error() string { return e.err.Error() }

// attempt stores in as info.Version in one transaction, or nothing. The dossier's
// patient is read inside the transaction, after Begin has serialised the user's
// imports: read before, two concurrent imports could each store another patient.
func (s *Service) attempt(ctx context.Context, in Input, info ImportInfo, keys refKeys) (Result, error) {
	w, err := s.store.Begin(ctx, info.UserID)
	if err != nil {
		return Result{}, err
	}
	defer w.Rollback(ctx)
	self, err := s.dossierPatient(ctx, w, info.UserID, keys)
	if err != nil {
		return Result{}, err
	}
	info.Counts = map[Category]int{}
	res, err := s.writeAll(ctx, w, in, &info, keys)
	if err != nil {
		return Result{}, err
	}
	if err := onePatient(res, self); err != nil {
		return Result{}, err
	}
	warnings, err := s.checkRefs(ctx, info.UserID, in, res, keys)
	if err != nil {
		return Result{}, err
	}
	if changed := self.changed(); len(changed) > 0 {
		if err := w.SetPatient(ctx, info.UserID, changed); err != nil {
			return Result{}, err
		}
	}
	if err := w.Commit(ctx, info, len(res)); err != nil {
		return Result{}, err
	}
	return Result{ImportID: info.ID, Version: info.Version, Source: in.Source, Total: len(res), Counts: info.Counts, Warnings: warnings}, nil
}

// batchSize is how many entries are validated (on all CPUs) and written at once.
const batchSize = 256

// writeAll validates, seals and writes every entry of in, a batch at a time, and
// returns the resources without their JSON (what the later checks need).
func (s *Service) writeAll(ctx context.Context, w Writer, in Input, info *ImportInfo, keys refKeys) ([]fhir.Resource, error) {
	var out []fhir.Resource
	seen, seenURL, intern := map[string]int{}, map[string]int{}, map[string]string{}
	batch := make([]fhir.Entry, 0, batchSize)
	flush := func() error {
		res, err := fhir.Validate(info.Version, batch)
		if err != nil {
			return invalidEntry{err}
		}
		batch = batch[:0]
		if err := uniqueFullURLs(res, seenURL); err != nil {
			return err
		}
		assignIDs(res)
		for _, r := range res {
			if first, dup := seen[r.Type+"/"+r.ID]; dup {
				return invalidEntry{&fhir.Error{Entry: r.Index, Source: r.Source, Path: r.Type + ".id", Reason: fmt.Sprintf("same resource as entry %d", first)}}
			}
			seen[r.Type+"/"+r.ID] = r.Index
		}
		rows := make([]Row, len(res))
		replace := make([][]byte, 0, len(res)*(len(keys.keys)+1))
		for i, r := range res {
			if rows[i], err = s.row(*info, r, keys); err != nil {
				return err
			}
			info.Counts[rows[i].Category]++
			for _, k := range keys.candidates(info.UserID, r.Type, r.ID) {
				replace = append(replace, k[:])
			}
			out = append(out, slim(r, intern))
		}
		return w.Write(ctx, info.UserID, info.ID, rows, replace)
	}
	err := in.each(func(e fhir.Entry) error {
		if batch = append(batch, e); len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	return out, err
}

// uniqueFullURLs refuses a fullUrl that an earlier entry (in seen, across
// batches) has: FHIR STU3/R4 Bundle invariant bdl-7. A reference by that fullUrl
// would be ambiguous, and the resources without an id would get the same one.
// The error is a validation error of the entry (the other FHIR version is no
// better).
func uniqueFullURLs(res []fhir.Resource, seen map[string]int) error {
	for _, r := range res {
		if r.FullURL == "" {
			continue
		}
		if first, dup := seen[r.FullURL]; dup {
			return invalid(&fhir.Error{Entry: r.Index, Path: fmt.Sprintf("Bundle.entry[%d].fullUrl", r.Index), Reason: fmt.Sprintf("the same fullUrl as entry %d", first)})
		}
		seen[r.FullURL] = r.Index
	}
	return nil
}

// slim is what the checks after writing need of r: no JSON, and the reference
// paths and values shared between resources (most point at the same patient and
// practitioners), so that a large import keeps a few bytes per resource.
func slim(r fhir.Resource, intern map[string]string) fhir.Resource {
	r.JSON = nil
	r.Type = internString(intern, r.Type)
	refs := make([]fhir.Reference, len(r.Refs))
	for i, ref := range r.Refs {
		refs[i] = fhir.Reference{Path: internString(intern, ref.Path), Value: internString(intern, ref.Value), Contained: ref.Contained, BSN: ref.BSN}
	}
	r.Refs = refs
	return r
}

func internString(m map[string]string, s string) string {
	if v, ok := m[s]; ok {
		return v
	}
	m[s] = s
	return s
}

// detect returns the given version, or the one the entries' samples parse in.
func detect(in Input, given fhir.Version) (fhir.Version, error) {
	if given != "" {
		return given, nil
	}
	v, err := fhir.Detect(in.sample())
	if err != nil {
		return "", invalid(fmt.Errorf("%w (neither valid STU3 nor R4)", err))
	}
	return v, nil
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

func (s *Service) row(info ImportInfo, r fhir.Resource, keys refKeys) (Row, error) {
	id := uuid.NewString()
	sealed, err := s.sealRow(info.UserID, id, r.JSON)
	if err != nil {
		return Row{}, err
	}
	key := keys.key(info.UserID, r.Type, r.ID)
	return Row{
		ID: id, ImportID: info.ID, Version: info.Version, Type: r.Type, Category: Classify(r.Type, r.JSON),
		RefKey: key[:], RefKeyID: keys.primary, Binding: BindingAccount, Sealed: sealed,
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
func (s *Service) checkRefs(ctx context.Context, userID string, in Input, res []fhir.Resource, rk refKeys) ([]string, error) {
	un, ferr := fhir.UnresolvedRefs(res)
	if ferr != nil {
		return nil, invalid(ferr)
	}
	if len(un) == 0 {
		return nil, nil
	}
	cands := make([][][32]byte, len(un))
	var keys [][32]byte
	for i, u := range un {
		typ, id, _ := strings.Cut(u.Target, "/")
		cands[i] = rk.candidates(userID, typ, id)
		keys = append(keys, cands[i]...)
	}
	stored, err := s.store.Existing(ctx, userID, keys)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for i, u := range un {
		if slices.ContainsFunc(cands[i], func(k [32]byte) bool { return stored[k] }) {
			continue
		}
		if in.Bundle() {
			return nil, invalid(u.Error())
		}
		warnings = append(warnings, u.Error().Error())
	}
	return warnings, nil
}
