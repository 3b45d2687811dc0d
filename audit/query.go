package audit

import (
	"context"
	"time"
)

// Filter selects records for the auditor view and for exports. Zero fields do not
// filter. The period is on Recorded (the store's clock), half-open [From, To).
type Filter struct {
	From, To      time.Time
	Actions       []Action // any of these
	PersonID      string
	ActorID       string // e.g. a peer's client id
	ActorType     ActorType
	CorrelationID string
	// Limit is the page size for Query (default 50, at most 500); Scan ignores it.
	Limit int
	// Cursor is Page.Next of the previous page ("" for the first page).
	Cursor string
}

// Page is one page of records, newest first. Next is the cursor of the following
// (older) page, "" when there is none. Pagination is by keyset (seq), never OFFSET,
// so a page costs the same however deep an auditor scrolls.
type Page struct {
	Records []Record
	Next    string
}

// ChainStatus is what the auditor view shows above the records.
type ChainStatus struct {
	HeadSeq        int64 // chain position of the newest linked record
	HeadHash       Hash
	HeadRecorded   time.Time
	LastCheckpoint *Checkpoint // nil when none was signed yet
	// CheckpointVerified is true when LastCheckpoint's signature was checked with the
	// instance key; false when no key was given or the signature does not verify
	// (then only Seq, Hash and times are shown, unproven; Verify reports it as a break).
	CheckpointVerified bool
}

// VerifyOptions limits a verification to a period of Recorded; zero means the whole
// chain (from its start, including the end-of-chain checks).
type VerifyOptions struct {
	From, To time.Time
	// External are checkpoint JWSs kept outside the database (as printed by
	// `pgo audit checkpoint`), checked like the stored ones. They still hold when
	// someone with database access deleted the stored checkpoints and rewrote the chain.
	External []string
}

// VerifyResult is the outcome of a verification. Break is nil when the chain holds.
type VerifyResult struct {
	Checked     int64 // linked records checked
	Checkpoints int   // signed checkpoints checked against the chain
	// Unlinked is how many committed records the linker has not chained yet
	// (each checked against its own MAC); OldestUnlinked is the age of the oldest.
	// One older than the store's bound is a Break: the linker is not running.
	Unlinked       int64
	OldestUnlinked time.Duration
	Break          *Break
}

// OK reports whether nothing was found broken.
func (v VerifyResult) OK() bool { return v.Break == nil }

// Reader is what the auditor web view and the CLI need from the store
// (auditdb.Store implements it).
type Reader interface {
	Query(ctx context.Context, f Filter) (Page, error)
	Status(ctx context.Context) (ChainStatus, error)
	Verify(ctx context.Context, opts VerifyOptions) (VerifyResult, error)
	Scanner
}

// Scanner streams every record matching f (ignoring Limit and Cursor) oldest first
// to fn, in batches, so that memory stays flat however many records match.
type Scanner interface {
	Scan(ctx context.Context, f Filter, fn func(*Record) error) error
}
