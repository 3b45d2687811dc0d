package dossier

import (
	"context"
	"strings"
)

// PreviewRows is how many items of each category the consent screen previews:
// the first ones the PDF lists. A dossier holds tens of thousands of items (an
// import adds up to 100,000), and a preview of all of them costs the serve
// process memory and time in proportion to the whole dossier on every view of
// the screen, and gives the patient's browser a page it can hardly show. The
// screen still shows each category's full count, and says that all items go
// into the document.
const PreviewRows = 50

// overview reads what the consent screen previews: the first PreviewRows rows
// of each category (Store.FirstRows) and, so that they show exactly what the
// PDF shows for them, the resources they refer to (the resolver shows a
// reference by its target, which may be any row of the dossier) and the
// dossier's first Patient (the cover). It reads and opens a bounded number of
// rows however large the dossier is.
func (s *Service) overview(ctx context.Context, userID string, selected []Category, sel map[Category]bool,
	counts map[Category]int) (Summary, error) {
	keys, err := s.refKeys()
	if err != nil { // no ref keys (a KMS-backed vault): targets cannot be looked up, read everything
		sum, err := s.summarize(ctx, userID, selected, sel, counts, false)
		return cutSections(sum, PreviewRows), err
	}
	rows, err := s.store.FirstRows(ctx, userID, selected, PreviewRows)
	if err != nil {
		return Summary{}, err
	}
	res, err := s.open(userID, rows)
	if err != nil {
		return Summary{}, err
	}
	var cands [][]byte
	for _, ti := range refTargets(res) {
		for _, k := range keys.candidates(userID, ti[0], ti[1]) {
			cands = append(cands, k[:])
		}
	}
	var refs []openRow
	if len(cands) > 0 {
		more, err := s.store.RowsByRefKey(ctx, userID, cands)
		if err != nil {
			return Summary{}, err
		}
		if refs, err = s.open(userID, more); err != nil {
			return Summary{}, err
		}
	}
	return build(res, refs, sel, counts, false, PreviewRows), nil
}

// refTargets returns the "Type/id" of every literal reference in the first
// PreviewRows rows of each category (relative, or the last two parts of an
// absolute one), as the resolver looks them up; contained ("#id") and urn
// references name no stored row.
func refTargets(res []openRow) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	add := func(v string) {
		parts := strings.Split(v, "/")
		if len(parts) < 2 || parts[len(parts)-2] == "" || parts[len(parts)-1] == "" {
			return
		}
		t := [2]string{parts[len(parts)-2], parts[len(parts)-1]}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	shown := map[Category]int{}
	for _, o := range res {
		if shown[o.Category]++; shown[o.Category] <= PreviewRows {
			walkRefs(map[string]any(o.n), add)
		}
	}
	return out
}

// walkRefs calls f with the value of every "reference" string in v.
func walkRefs(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "reference" {
				f(s)
			} else {
				walkRefs(e, f)
			}
		}
	case node:
		walkRefs(map[string]any(x), f)
	case []any:
		for _, e := range x {
			walkRefs(e, f)
		}
	}
}

// cutSections keeps the first n items of each section.
func cutSections(sum Summary, n int) Summary {
	for i := range sum.Sections {
		if len(sum.Sections[i].Items) > n {
			sum.Sections[i].Items = sum.Sections[i].Items[:n]
		}
	}
	return sum
}
