package export

import (
	"crypto/sha1"
	"testing"
)

func TestJobFacts(t *testing.T) {
	tests := []struct {
		job     Job
		percent int
		final   bool
	}{
		{Job{Status: StatusQueued}, 0, false},
		{Job{Status: StatusRendering, Done: 1, Total: 3}, 33, false},
		{Job{Status: StatusRendering, Done: 10004, Total: 10004}, 100, false},
		{Job{Status: StatusReady}, 100, true},
		{Job{Status: StatusFailed, Done: 5, Total: 10}, 50, true},
	}
	for _, tt := range tests {
		if got := tt.job.Percent(); got != tt.percent {
			t.Errorf("%+v: percent %d, want %d", tt.job, got, tt.percent)
		}
		if got := tt.job.Status.Final(); got != tt.final {
			t.Errorf("%s: final %v", tt.job.Status, got)
		}
	}
	// FHIR Attachment.hash: base64 of the SHA-1 (here of the empty string)
	j := Job{SHA1: sha1.Sum(nil)}
	if got := j.AttachmentHash(); got != "2jmj7l5rSw0yVb/vlWAYkK/YBwk=" {
		t.Fatalf("attachment hash %s", got)
	}
}

func TestPermanentClassification(t *testing.T) {
	if err := (&Jobs{}).Render(t.Context(), "not-a-uuid"); !isPermanent(err) {
		t.Fatalf("bad id: %v", err)
	}
}

func isPermanent(err error) bool {
	_, ok := err.(*permanentError)
	return ok
}
