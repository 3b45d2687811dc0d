package dossier

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// Summary builds what the PDF/A export renders and the consent screen previews: the
// patient's identifying details, one section per selected category (in Categories
// order) with one row per stored resource of that category, the categories that
// hold data but were not selected, and the stored documents when CatDocuments is
// selected. Nothing is left out of a selected category, nothing of an unselected one
// is read (PGOK-FR041/FR042).
func (s *Service) Summary(ctx context.Context, userID string, selected []Category) (Summary, error) {
	if err := checkUser(userID); err != nil {
		return Summary{}, err
	}
	sel := map[Category]bool{}
	for _, c := range selected {
		if _, ok := columns[c]; !ok {
			return Summary{}, pgo.Errorf(pgo.EINVALID, "unknown category %q", c)
		}
		sel[c] = true
	}
	counts, err := s.store.Counts(ctx, userID)
	if err != nil {
		return Summary{}, err
	}
	return s.summarize(ctx, userID, selected, sel, counts, true)
}

// summarize reads and opens the rows of the selected categories (and the
// patient's, since the cover page names them) and builds the Summary.
func (s *Service) summarize(ctx context.Context, userID string, selected []Category, sel map[Category]bool,
	counts map[Category]int, texts bool) (Summary, error) {
	load := append([]Category{}, selected...)
	if !sel[CatPatient] {
		load = append(load, CatPatient)
	}
	rows, err := s.store.Rows(ctx, userID, load)
	if err != nil {
		return Summary{}, err
	}
	res, err := s.open(userID, rows)
	if err != nil {
		return Summary{}, err
	}
	return build(res, nil, sel, counts, texts, 0), nil
}

// Overview is what the consent screen shows before the patient chooses: the
// number of items of every category that holds data, and a Summary with a section
// for each of them that holds its first PreviewRows items (Counts has how many
// there are).
type Overview struct {
	Counts  map[Category]int
	Summary Summary
}

// Overview reads the counts once and, when there is data, summarizes the first
// PreviewRows items of every category that has some, with the cells the PDF
// shows for them, reading only those rows and what they refer to (overview).
// Its items carry the table cells only: the further texts and the aliases that
// the PDF prints (Item.Extra, Item.Texts, Patient.Aliases) are left out, since
// collecting them costs as much as the rest of the summary and the preview
// table does not show them; Summary.Documents lists the previewed documents
// only.
func (s *Service) Overview(ctx context.Context, userID string) (Overview, error) {
	if err := checkUser(userID); err != nil {
		return Overview{}, err
	}
	counts, err := s.store.Counts(ctx, userID)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{Counts: counts}
	sel := map[Category]bool{}
	var selected []Category
	for _, ci := range Categories {
		if counts[ci.Key] > 0 {
			sel[ci.Key] = true
			selected = append(selected, ci.Key)
		}
	}
	if len(selected) == 0 {
		return ov, nil
	}
	ov.Summary, err = s.overview(ctx, userID, selected, sel, counts)
	return ov, err
}

type openRow struct {
	Row
	n node
}

// open decrypts the rows of account userID, each bound to that account: a row
// moved here from another account by SQL does not open (Binding).
func (s *Service) open(userID string, rows []Row) ([]openRow, error) {
	out := make([]openRow, 0, len(rows))
	for _, r := range rows {
		plain, err := s.openRow(userID, r)
		if err != nil {
			return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open dossier row %s: %w", r.ID, err), "")
		}
		n, err := decode(plain)
		if err != nil {
			return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("decode dossier row %s: %w", r.ID, err), "")
		}
		out = append(out, openRow{r, n})
	}
	return out, nil
}

// build assembles the Summary; without texts it leaves out what only the PDF
// prints (Item.Extra, Item.Texts, Patient.Aliases). With limit > 0 a section
// holds the first limit rows of its category in res. The rows of refs only show
// references (the resolver), as do the rows of res past the limit.
func build(res, refs []openRow, sel map[Category]bool, counts map[Category]int, texts bool, limit int) Summary {
	r := newResolver(append(res[:len(res):len(res)], refs...))
	var sum Summary
	sections := map[Category]*Section{}
	for _, ci := range Categories {
		if sel[ci.Key] {
			sections[ci.Key] = &Section{Category: ci.Key, Columns: columns[ci.Key]}
		} else if counts[ci.Key] > 0 {
			sum.Unselected = append(sum.Unselected, ci.Key)
		}
	}
	for _, o := range res {
		if o.Type == "Patient" {
			sum.Patient = patientOf(o.n)
			break
		}
	}
	found := make([][]Text, len(res))
	var aliases []string
	for i, o := range res {
		if texts && sections[o.Category] != nil {
			found[i] = collect(o.n)
			aliases = addAliases(aliases, o.n)
		}
	}
	sum.Patient.Aliases = strings.Join(aliases, "; ")
	cover := &shown{}
	cover.add(sum.Patient.Name)
	cover.add(aliases...)
	for i, o := range res {
		sec := sections[o.Category]
		if sec == nil || (limit > 0 && len(sec.Items) >= limit) {
			continue
		}
		c := cells(o, r)
		it := Item{ID: o.Type + "/" + o.n.str("id"), Cells: c}
		if texts {
			it.Extra = extras(found[i], c, cover)
		}
		for _, t := range found[i] {
			it.Texts = append(it.Texts, t.Value)
		}
		sec.Items = append(sec.Items, it)
		if o.Type == "DocumentReference" {
			sum.Documents = append(sum.Documents, documentOf(o.n))
		}
	}
	for _, ci := range Categories {
		if sec := sections[ci.Key]; sec != nil {
			sum.Sections = append(sum.Sections, *sec)
		}
	}
	return sum
}

// addAliases adds the display of a resource's reference to its patient (the name
// the source uses for them) to list, once. Only references to a Patient count: a
// Specimen's subject can be a contained Device.
func addAliases(list []string, n node) []string {
	for _, k := range []string{"subject", "patient"} {
		ref := n.get(k)
		d := ref.str("display")
		if d == "" || !isPatientRef(ref.str("reference")) || slices.Contains(list, d) {
			continue
		}
		list = append(list, d)
	}
	return list
}

// isPatientRef reports whether a literal reference names a Patient ([base/]Patient/id).
func isPatientRef(ref string) bool {
	return strings.HasPrefix(ref, "Patient/") || strings.Contains(ref, "/Patient/")
}

// Preview builds the Summary of an Input without storing anything: the same
// validation as Import (one patient, FHIR types only) and the same rows as
// Summary. Tests and tools use it to render a set of FHIR files directly.
func Preview(in Input, selected []Category) (Summary, error) {
	sel := map[Category]bool{}
	for _, c := range selected {
		if _, ok := columns[c]; !ok {
			return Summary{}, pgo.Errorf(pgo.EINVALID, "unknown category %q", c)
		}
		sel[c] = true
	}
	entries, err := in.all()
	if err != nil {
		return Summary{}, err
	}
	_, res, err := validate(Input{Entries: entries}, "")
	if err != nil {
		return Summary{}, err
	}
	if err := uniqueFullURLs(res, map[string]int{}); err != nil {
		return Summary{}, err
	}
	assignIDs(res)
	if err := onePatient(res, newPatient("", refKeys{}, nil)); err != nil {
		return Summary{}, err
	}
	rows := make([]openRow, 0, len(res))
	counts := map[Category]int{}
	for _, r := range res {
		n, err := decode(r.JSON)
		if err != nil {
			return Summary{}, invalid(err)
		}
		c := Classify(r.Type, r.JSON)
		counts[c]++
		rows = append(rows, openRow{Row{Type: r.Type, Category: c}, n})
	}
	return build(rows, nil, sel, counts, true, 0), nil
}

// cells builds a row whose length always equals the section's column count.
func cells(o openRow, r *resolver) []string {
	var c []string
	if b, ok := builders[o.Type]; ok && (o.Type != "Observation" || o.Category == CatResults) {
		c = b(o.n, r)
	} else {
		c = otherRow(o.Type, o.n, r)
	}
	want := len(columns[o.Category])
	for len(c) < want {
		c = append(c, "")
	}
	return c[:want]
}

func patientOf(n node) Patient {
	return Patient{
		Name:      humanName(n.first("name")),
		BirthDate: n.str("birthDate"),
		Gender:    status(n, "gender"),
		BSN:       fhir.MaskBSN(bsnOf(n)),
	}
}

func documentOf(n node) Document {
	att := n.first("content").get("attachment")
	d := Document{
		Title:       firstOf(att.str("title"), n.str("description"), concept(n.get("type"))),
		ContentType: att.str("contentType"),
		Size:        attachmentSize(att),
	}
	for _, k := range []string{"created", "date", "indexed"} {
		if t, err := time.Parse(time.RFC3339, n.str(k)); err == nil {
			d.Created = t
			break
		}
	}
	return d
}

// typeNL names resource types that land in "Overig".
var typeNL = map[string]string{
	"Practitioner": "Zorgverlener", "PractitionerRole": "Zorgverlenerrol", "Organization": "Zorgaanbieder",
	"Location": "Locatie", "Consent": "Wilsverklaring / behandelaanwijzing", "Flag": "Alert",
	"DeviceUseStatement": "Medisch hulpmiddel", "Device": "Hulpmiddel (product)", "NutritionOrder": "Voedingsadvies",
	"Observation": "Observatie", "CarePlan": "Zorgplan", "Goal": "Doel", "Communication": "Bericht",
}

func otherRow(typ string, n node, r *resolver) []string {
	kind := typeNL[typ]
	if kind == "" {
		kind = typ
	}
	what := firstOf(concept(n.get("code")), n.str("name"), humanName(n.first("name")), n.str("description"),
		concept(n.get("type")), n.concepts("category"), concept(n.get("practitioner")),
		n.get("oralDiet").concepts("type"), address(n.get("address")))
	switch typ {
	case "Organization", "Practitioner", "Location", "PractitionerRole":
		what = join("; ", what, labelled("organisatie", r.ref(n.get("organization"))), n.concepts("specialty"),
			n.concepts("type"), contactDetails(n))
	}
	if typ == "Observation" {
		what = join(": ", what, observationValue(n))
	}
	if typ == "Goal" { // zib TreatmentObjective: the goal's description
		what = firstOf(concept(n.get("description")), what)
	}
	var acts []string
	for _, a := range n.list("activity") { // zib: a care plan's activities
		acts = append(acts, firstOf(concept(a.get("detail").get("code")), a.get("detail").str("description"), r.ref(a.get("reference"))))
	}
	what = join("; ", what, labelled("activiteiten:", join(", ", acts...)), n.str("comment"), n.notes("note"))
	if typ == "DeviceUseStatement" {
		// the statement is about its Device (STU3 device, R4 device): name that,
		// from the reference's display or the Device in the dossier
		what = firstOf(r.ref(n.get("device")), what)
	}
	return []string{kind, what, when(n, "effectiveDateTime", "effectivePeriod", "dateTime", "period", "dateAsserted", "dateTime", "date", "whenUsed")}
}

func bsnOf(n node) string {
	for _, id := range n.list("identifier") {
		if id.str("system") != "http://fhir.nl/fhir/NamingSystem/bsn" {
			continue
		}
		if v := id.str("value"); v != "" {
			return v
		}
		for _, x := range id.get("_value").list("extension") {
			if strings.HasSuffix(x.str("url"), "/data-absent-reason") {
				return "afgeschermd"
			}
		}
	}
	return ""
}
