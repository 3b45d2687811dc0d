package transfer

import "fmt"

// A source may declare Bundle.total on its search result: the number of matches
// of the whole search, over all its pages, not counting entries with search.mode
// include or outcome (FHIR STU3 bundle-definitions.html#Bundle.total,
// search.html#total). When it does, the matches listing.add counts over all pages
// (every DocumentReference that is a match, before the target passes over the
// ones not current) must equal it, or the list is refused as a bad bundle.

// declare takes the Bundle.total of the page asked last (-1: none). It counts
// the whole search, so every page that states it states the same number: the
// first page to state one sets it, and a page that states another is refused
// (the list changed while it was read, or its count is wrong; either way which
// list is the dossier is unclear). A page without a total (the element is
// optional) leaves it as it is.
func (l *listing) declare(total int64) *Failure {
	n := len(l.asked)
	switch {
	case total < 0:
	case l.totalAt == 0:
		l.total, l.totalAt = total, n
	case total != l.total:
		return fail(ReasonBadBundle, "%s declares %d matches (Bundle.total) where page %d declared %d", pageName(n), total, l.totalAt, l.total)
	}
	return nil
}

// complete refuses, after the last page, a list whose pages hold other than the
// matches its Bundle.total declared: with fewer, later documents are missing and
// the dossier would pass as complete while it is not; with more, the count is
// wrong and so is the list. A list without a total is not checked.
func (l *listing) complete() *Failure {
	if l.totalAt == 0 || int64(l.matches) == l.total {
		return nil
	}
	return l.miscount(false)
}

// miscount is the failure for matches that differ from the declared total;
// more says that pages were left unread.
func (l *listing) miscount(more bool) *Failure {
	held, n := "its page holds", len(l.asked)
	switch {
	case more:
		held = fmt.Sprintf("its first %d page(s) hold", n)
	case n > 1:
		held = fmt.Sprintf("its %d pages hold", n)
	}
	missing := ""
	if int64(l.matches) < l.total {
		missing = ": the list is incomplete"
	}
	return fail(ReasonBadBundle, "the document list declares %d matching DocumentReference(s) (Bundle.total) but %s %d%s", l.total, held, l.matches, missing)
}
