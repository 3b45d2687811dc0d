package audit

import (
	"fmt"
	"strconv"
	"time"
)

// Break describes the first record at which the chain does not hold.
type Break struct {
	Seq     int64
	ID      string // empty when the record is missing altogether
	Problem string // what differs, for the auditor; never holds record content
}

func (b *Break) String() string {
	if b.ID == "" {
		return fmt.Sprintf("seq %d: %s", b.Seq, b.Problem)
	}
	return fmt.Sprintf("record %s (seq %d): %s", b.ID, b.Seq, b.Problem)
}

// Checkpoint is a signed statement "the chain had this head at this time". The JWS
// payload is this struct as JSON; the signature (ES256, instance key) lets an auditor
// prove that no record up to Seq was changed or removed later, even by someone who
// rewrote the whole chain with database access.
type Checkpoint struct {
	Type     string    `json:"typ"` // CheckpointType
	Seq      int64     `json:"seq"` // chain position of the head (Record.Pos)
	Hash     Hash      `json:"hash"`
	Recorded time.Time `json:"recorded"` // Recorded of the record at Seq
	SignedAt time.Time `json:"signed_at"`
	JWS      string    `json:"-"`
}

// CheckpointType marks checkpoint payloads, so that no other JWS of the instance key
// can pass as one.
const CheckpointType = "pgo-audit-checkpoint"

// Signer signs a payload as a compact JWS (vault.SigningKey implements it).
type Signer interface {
	Sign(payload []byte) (string, error)
}

// SignatureVerifier checks a compact JWS and returns its payload.
type SignatureVerifier interface {
	Verify(jws string) ([]byte, error)
}

// Anchor is what the first walked record must follow: its chain position - 1 and
// prev hash (for the chain head: the newest linked record's position and hash).
type Anchor struct {
	Seq  int64
	Hash Hash
}

// Prune record details that tell where the chain now starts (see StartAnchor).
const (
	DetailKeptFromSeq      = "kept_from_seq"
	DetailKeptFromPrevHash = "kept_from_prev_hash"
)

// StartAnchor says what the first stored linked record (at chain position
// firstSeq) must follow. Position 1 follows the genesis (0, zero hash). A later
// first record is only acceptable when the newest audit_pruned record names a
// position at or after it, with the prev hash there: retention dropped what was
// before. A kept record before that position was linked after a dropped one
// (its transaction committed late at a month's end); only its content is checked.
//
// The prune record is trusted only once checked (checkPrune): anyone who can
// write the table could otherwise add one that turns every record before a
// position of their choosing into content-only records.
func StartAnchor(firstSeq int64, lastPrune *Record, keys ChainKeys) (Anchor, *Break) {
	if lastPrune != nil {
		seq, err1 := strconv.ParseInt(lastPrune.Details[DetailKeptFromSeq], 10, 64)
		h, err2 := ParseHash(lastPrune.Details[DetailKeptFromPrevHash])
		if err1 == nil && err2 == nil && seq >= firstSeq && seq > 1 {
			if b := checkPrune(lastPrune, seq, keys); b != nil {
				return Anchor{}, b
			}
			return Anchor{Seq: seq - 1, Hash: h}, nil
		}
	}
	if firstSeq == 1 {
		return Anchor{}, nil
	}
	return Anchor{}, &Break{Seq: 1, Problem: fmt.Sprintf("records 1..%d are missing and no audit_pruned record accounts for them", firstSeq-1)}
}

// checkPrune checks the prune record that names the chain's start at keptFrom.
// Prune appends it in the transaction that drops the records, after linking
// everything committed before, so it is a format 2 record linked after the cut
// (at keptFrom or later); with chain keys it is keyed, and its MAC and link hash
// hold.
func checkPrune(r *Record, keptFrom int64, keys ChainKeys) *Break {
	brk := func(format string, args ...any) *Break {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: "the audit_pruned record that names where the chain starts " + fmt.Sprintf(format, args...)}
	}
	switch {
	case !r.Format2():
		return brk("has no MAC of its own: it was not written by Prune")
	case keys != nil && r.MACKey == 0:
		return brk("is unkeyed while the chain is keyed: it was written by someone without the chain key")
	case r.Link == 0:
		return brk("is not linked into the chain yet (the chain start it names is unproven until the linker links it)")
	case r.Link < keptFrom:
		return brk("is linked at position %d, before the position %d it names: Prune links it after the cut", r.Link, keptFrom)
	}
	if b := (&Walker{Keys: keys}).content(r); b != nil {
		return brk("does not hold: %s", b.Problem)
	}
	return nil
}

// Walker checks linked records handed to it in chain position order
// (Record.Pos), with the checkpoints that fall in the walked range. It keeps only the previous record, so memory stays flat.
type Walker struct {
	// Keys check keyed records (nil: a keyed record is a break that says so).
	Keys        ChainKeys
	anchor      *Anchor
	checkpoints []Checkpoint // ascending seq
	prev        *Record
	keyed       bool         // a keyed record was walked: an unkeyed one may not follow
	first       int64        // chain position of the first walked record
	kept        time.Time    // oldest Recorded among the records before the anchor
	deferred    []Checkpoint // checkpoints before the anchor without a record, for skipped
	Checked     int64
	Unlinked    int64 // format 2 records not linked yet (AddUnlinked)
	Matched     int   // checkpoints compared with the chain
	Break       *Break
}

// NewWalker starts a walk. anchor nil means "trust the first record's link" (a walk
// over a time range that does not start at the beginning).
func NewWalker(anchor *Anchor, checkpoints []Checkpoint) *Walker {
	return &Walker{anchor: anchor, checkpoints: checkpoints}
}

// Add checks the next linked record (in chain position order, Record.Pos) and
// returns false once a break is found. Records before the anchor (a retention cut
// that dropped records linked after them, see StartAnchor) have no checkable link
// any more: only their own content is checked, an unkeyed one may not follow a
// keyed one, and a checkpoint among them is compared with its record
// (keptCheckpoints, skipped).
func (w *Walker) Add(r *Record) bool {
	if w.Break != nil {
		return false
	}
	w.Checked++
	if w.Checked == 1 {
		w.first = r.Pos()
	}
	if w.prev == nil && w.anchor != nil && r.Pos() <= w.anchor.Seq {
		w.Break = w.content(r)
		if w.Break == nil {
			w.Break = w.unkeyed(r)
		}
		if w.Break == nil {
			w.Break = w.keptCheckpoints(r)
		}
		if w.kept.IsZero() || r.Recorded.Before(w.kept) {
			w.kept = r.Recorded
		}
		w.keyed = w.keyed || r.MACKey != 0
		return w.Break == nil
	}
	if b := w.check(r); b != nil {
		w.Break = b
		return false
	}
	w.keyed = w.keyed || r.MACKey != 0
	w.prev = &Record{ID: r.ID, Seq: r.Pos(), Recorded: r.Recorded, Hash: r.Hash, MACKey: r.MACKey, MAC: r.MAC}
	return true
}

// AddUnlinked checks a format 2 record that is not linked yet: its own MAC must
// hold, so that a change before linking is found too, and with chain keys it
// must be keyed. It does not end the walk.
func (w *Walker) AddUnlinked(r *Record) *Break {
	w.Unlinked++
	if !r.Format2() {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: "has neither its own MAC nor a link: its MAC was removed"}
	}
	if r.Link != 0 || r.PrevHash != (Hash{}) {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: "carries link fields without a link hash: the link was changed"}
	}
	if w.Keys != nil && r.MACKey == 0 {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: "is unkeyed while the chain is keyed: it was written or rewritten by someone without the chain key"}
	}
	return w.content(r)
}

// unkeyed finds an unkeyed record among the records before the anchor, which
// have no link to check: after a keyed one it was rewritten by someone without
// the chain key. (Unkeyed records before keyed ones are the records of before
// keyed chains.)
func (w *Walker) unkeyed(r *Record) *Break {
	if w.keyed && r.MACKey == 0 {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: "an unkeyed record follows keyed ones: the chain was rewritten by someone without the chain key"}
	}
	return nil
}

// content checks a record's content against its own MAC (format 2) or hash
// (format 1), and for a linked format 2 record its link hash.
func (w *Walker) content(r *Record) *Break {
	brk := func(format string, args ...any) *Break {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: fmt.Sprintf(format, args...)}
	}
	stored, got, err := r.Hash, Hash{}, error(nil)
	if r.Format2() {
		stored = r.MAC
		got, err = r.ComputeMAC(w.Keys)
	} else {
		got, err = r.ComputeHash(w.Keys)
	}
	if err != nil {
		return brk("%v", err)
	}
	if got != stored {
		return brk("content does not match its stored hash (stored %s, computed %s): a field was changed after it was written", short(stored), short(got))
	}
	if !r.Format2() || r.Link == 0 {
		return nil
	}
	if got, err = r.ComputeLinkHash(w.Keys); err != nil {
		return brk("%v", err)
	}
	if got != r.Hash {
		return brk("link %d does not match its stored link hash (stored %s, computed %s): its place in the chain was changed", r.Link, short(r.Hash), short(got))
	}
	return nil
}

func (w *Walker) check(r *Record) *Break {
	brk := func(format string, args ...any) *Break {
		return &Break{Seq: r.Seq, ID: r.ID, Problem: fmt.Sprintf(format, args...)}
	}
	if b := w.content(r); b != nil {
		return b
	}
	if b := w.unkeyed(r); b != nil {
		return b
	}
	pos := r.Pos()
	want, wantID := w.expected()
	if want != nil {
		if pos != want.Seq+1 {
			if pos > want.Seq+1 {
				return brk("records %d..%d before it are missing (the chain jumps from position %d)", want.Seq+1, pos-1, want.Seq)
			}
			return brk("position %d does not follow position %d: records are out of order or duplicated", pos, want.Seq)
		}
		if r.PrevHash != want.Hash {
			return brk("prev_hash %s does not equal the hash %s of the record before it%s: one of the two was changed or they were reordered", short(r.PrevHash), short(want.Hash), wantID)
		}
	}
	// Format 1 records were linked on append, in recorded order; format 2 records
	// are linked in commit order, which a long transaction may put out of it.
	if w.prev != nil && !r.Format2() && w.prev.MAC == (Hash{}) && r.Recorded.Before(w.prev.Recorded) {
		return brk("recorded time goes back from %s", w.prev.Recorded.Format(TimeFormat))
	}
	for _, cp := range w.deferred {
		if b := w.skipped(cp); b != nil {
			return b
		}
	}
	w.deferred = nil
	for len(w.checkpoints) > 0 && w.checkpoints[0].Seq <= pos {
		cp := w.checkpoints[0]
		w.checkpoints = w.checkpoints[1:]
		if cp.Seq < pos {
			if b := w.skipped(cp); b != nil {
				return b
			}
			continue
		}
		w.Matched++
		if cp.Hash != r.Hash || !cp.Recorded.Equal(r.Recorded) {
			return brk("differs from the checkpoint signed at %s (signed hash %s, stored %s): the chain up to here was rewritten", cp.SignedAt.UTC().Format(time.RFC3339), short(cp.Hash), short(r.Hash))
		}
	}
	return nil
}

// keptCheckpoints takes the checkpoints up to r, a record before the anchor.
// One before the first walked record names a dropped record; one between
// records is left to skipped. One at r is compared with it; without chain keys
// a match proves nothing about the records before it (the prune record that
// made them unlinked records may be forged), so it is a break too.
func (w *Walker) keptCheckpoints(r *Record) *Break {
	pos := r.Pos()
	for len(w.checkpoints) > 0 && w.checkpoints[0].Seq <= pos {
		cp := w.checkpoints[0]
		w.checkpoints = w.checkpoints[1:]
		switch {
		case cp.Seq < w.first:
		case cp.Seq < pos:
			w.deferred = append(w.deferred, cp)
		case cp.Hash != r.Hash || !cp.Recorded.Equal(r.Recorded):
			return &Break{Seq: r.Seq, ID: r.ID, Problem: fmt.Sprintf("differs from the checkpoint signed at %s (signed hash %s, stored %s): the chain up to here was rewritten", cp.SignedAt.UTC().Format(time.RFC3339), short(cp.Hash), short(r.Hash))}
		case w.Keys == nil:
			return w.unchecked(cp)
		default:
			w.Matched++
		}
	}
	return nil
}

// skipped checks checkpoint cp, which names a position before the first fully
// checked record. It may go unchecked (nil) when it lies before the walked range
// (a period, or records a retention cut dropped) or names a record a retention
// cut dropped from among the records before the anchor (signed before every
// record kept there). Otherwise it names a kept record that is missing there,
// which cannot be checked against the chain: a break, not a skip.
func (w *Walker) skipped(cp Checkpoint) *Break {
	if w.prev != nil || w.anchor == nil || cp.Seq < w.first || w.kept.IsZero() || cp.Recorded.Before(w.kept) {
		return nil
	}
	return w.unchecked(cp)
}

func (w *Walker) unchecked(cp Checkpoint) *Break {
	return &Break{Seq: cp.Seq, Problem: fmt.Sprintf("the checkpoint signed at %s names seq %d, before seq %d where the audit_pruned record says the chain starts, among records that were kept: the chain up to it cannot be checked; records were removed or the prune record was forged", cp.SignedAt.UTC().Format(time.RFC3339), cp.Seq, w.anchor.Seq+1)}
}

func (w *Walker) expected() (*Anchor, string) {
	if w.prev != nil {
		return &Anchor{Seq: w.prev.Seq, Hash: w.prev.Hash}, " (" + w.prev.ID + ")"
	}
	return w.anchor, ""
}

// Finish checks the end of the walk: checkpoints beyond the last record mean records
// were removed from the end; head (when the walk reached the end of the chain) must
// equal the last record.
func (w *Walker) Finish(head *Anchor) *Break {
	if w.Break != nil {
		return w.Break
	}
	if w.prev == nil && w.anchor == nil {
		return nil // a period without records: nothing to compare the end with
	}
	var last Anchor
	if w.prev != nil {
		last = Anchor{Seq: w.prev.Seq, Hash: w.prev.Hash}
	} else if w.anchor != nil {
		last = *w.anchor
	}
	if head != nil {
		for _, cp := range w.checkpoints {
			w.Break = &Break{Seq: cp.Seq, Problem: fmt.Sprintf("the checkpoint signed at %s names seq %d, but the chain ends at seq %d: records were removed", cp.SignedAt.UTC().Format(time.RFC3339), cp.Seq, last.Seq)}
			return w.Break
		}
		if head.Seq != last.Seq || head.Hash != last.Hash {
			w.Break = &Break{Seq: last.Seq + 1, Problem: fmt.Sprintf("the chain head says seq %d (hash %s) but the last record is seq %d (hash %s): records at the end were removed or added outside the chain", head.Seq, short(head.Hash), last.Seq, short(last.Hash))}
		}
	}
	return w.Break
}

func short(h Hash) string { return h.String()[:16] }
