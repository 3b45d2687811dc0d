package config

import "time"

// FHIR holds the settings of the source role's FHIR endpoint of gegevensdienst 51
// (package export, server/fhir*.go).
type FHIR struct {
	// HoldLimit bounds how long a Binary request without `Prefer: respond-async`
	// waits for a document that is still rendering before 503 + Retry-After. MedMij's
	// test scripts accept only 200 for a Binary read, so a plain request is held; the
	// limit stays well below common client timeouts (30-60 s).
	HoldLimit time.Duration
	// ExportGrace is how long a rendered export is kept after its grant ended
	// (revoked, withdrawn or expired), for a target that is still verifying it; then
	// the worker deletes the document (audited).
	ExportGrace time.Duration
	// ExportMaxItems bounds the items (dossier resources) one export document may
	// hold: the layout keeps the whole document in memory, about 11 KB of peak heap
	// per item (120 MB for 10,000 items, 451 MB for 40,000), so the default 25,000
	// needs about 290 MB per render. The consent screen refuses a larger selection
	// and the worker fails a job that grew past it instead of being OOM-killed.
	ExportMaxItems int
}

func (f *FHIR) settings() []setting {
	return []setting{
		duration("PGO_HOLD_LIMIT", "20s", "how long a plain Binary request waits for a rendering document before 503 + Retry-After", &f.HoldLimit, 0, 2*time.Minute),
		duration("PGO_EXPORT_GRACE", "1h", "how long a rendered export is kept after its grant ended", &f.ExportGrace, time.Minute, 30*24*time.Hour),
		intSetting("PGO_EXPORT_MAX_ITEMS", "25000", "most dossier items one export document may hold; a render needs about 11 KB of memory per item (25000: about 290 MB), times PGO_WORKER_CONCURRENCY", &f.ExportMaxItems, 1, 1000000),
	}
}
