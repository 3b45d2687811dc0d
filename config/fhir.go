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
}

func (f *FHIR) settings() []setting {
	return []setting{
		duration("PGO_HOLD_LIMIT", "20s", "how long a plain Binary request waits for a rendering document before 503 + Retry-After", &f.HoldLimit, 0, 5*time.Minute),
		duration("PGO_EXPORT_GRACE", "1h", "how long a rendered export is kept after its grant ended", &f.ExportGrace, time.Minute, 30*24*time.Hour),
	}
}
