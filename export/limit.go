package export

import (
	"context"
	"fmt"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// TooLargeMessage is the failure of a job whose selection holds more items than
// one document may (PGO_EXPORT_MAX_ITEMS): the dossier grew after the consent
// screen counted it. Fixed text, as the peer reads it in the Binary endpoint's
// OperationOutcome.
const TooLargeMessage = "the selected dossier is larger than one document may hold"

// TooLargeError is a selection of Items items where one document may hold at most
// Max (JobsConfig.MaxItems). The layout keeps the whole document in memory, so it
// is refused before anything is loaded or laid out; a retry would fail the same
// way. It unwraps to a *pgo.Error with code ETOOLARGE and TooLargeMessage.
type TooLargeError struct{ Items, Max int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("export: the selection holds %d items, more than the %d one document may hold (PGO_EXPORT_MAX_ITEMS)", e.Items, e.Max)
}

func (e *TooLargeError) Unwrap() error { return pgo.Errorf(pgo.ETOOLARGE, TooLargeMessage) }

// MaxItems is the most items one document may hold.
func (j *Jobs) MaxItems() int { return j.maxItems }

// CheckSelection refuses, with a *TooLargeError, a selection of the user's
// categories that holds more items than one document may, before a job for it is
// queued: the check a rendering makes again before it loads anything (the dossier
// may grow in between). It counts only when the Summarizer can (Counter); the
// consent screen counts the same way on its own (consent.Service.Decide).
func (j *Jobs) CheckSelection(ctx context.Context, userID string, cats []dossier.Category) error {
	return j.checkCounts(ctx, userID, cats)
}

// checkCounts refuses a selection whose categories hold more than the maximum
// before its Summary is loaded, when the Summarizer can count (one grouped count
// query; dossier.Service can). Counts are the rows per category, and every row of a
// selected category is one item of the Summary, so this is the number the
// rendering would see.
func (j *Jobs) checkCounts(ctx context.Context, userID string, cats []dossier.Category) error {
	c, ok := j.dossier.(Counter)
	if !ok {
		return nil
	}
	counts, err := c.Counts(ctx, userID)
	if err != nil {
		return err
	}
	return j.checkItems(SelectedItems(counts, cats))
}

// checkItems refuses n items over the maximum.
func (j *Jobs) checkItems(n int) error {
	if n > j.maxItems {
		return &TooLargeError{Items: n, Max: j.maxItems}
	}
	return nil
}

// SelectedItems is the number of items the selected categories hold by counts
// (dossier.Service.Counts), each category once: the number of items a rendering of
// that selection lays out.
func SelectedItems(counts map[dossier.Category]int, cats []dossier.Category) int {
	n := 0
	for _, c := range dedupe(cats) {
		n += counts[c]
	}
	return n
}
