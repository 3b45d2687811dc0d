package web

import "fmt"

// View models of the target role's pages (issue 12).

// TransferChooseView is "Dossier ophalen bij een andere PGO".
type TransferChooseView struct {
	Page
	CSRF        string
	Query       string
	Service     string // GNL name of gegevensdienst 51
	Sources     []TransferSource
	Unavailable bool   // the ZAL is not loaded yet
	Error       string // translation key of a form error
	Recent      []TransferRow
}

// TransferSource is one qualified source PGO from the ZAL.
type TransferSource struct{ Name, Display string }

// TransferRow is one of the patient's recent transfers.
type TransferRow struct{ ID, Source, Status, When string }

// TransferProgressView is the progress page of one transfer.
type TransferProgressView struct {
	Page
	CSRF      string
	State     TransferState
	Documents []TransferDocument
}

// TransferState is what the progress page and its event stream show.
type TransferState struct {
	ID            string         `json:"id"`
	Source        string         `json:"source"`
	Status        string         `json:"status"`
	Label         string         `json:"label"` // the status in words
	Steps         []TransferStep `json:"steps"`
	DocsDone      int            `json:"docs_done"`
	DocsTotal     int            `json:"docs_total"`
	Bytes         string         `json:"bytes"`
	Progress      string         `json:"progress"` // documents and bytes in words
	Percent       int            `json:"percent"`
	Final         bool           `json:"final"`
	Reason        string         `json:"reason,omitempty"` // the failure in words
	Calm          bool           `json:"calm,omitempty"`   // the patient said no: no retry pressure
	CanRetry      bool           `json:"can_retry,omitempty"`
	NewConsent    bool           `json:"new_consent,omitempty"`
	CorrelationID string         `json:"-"`
}

// Waiting reports whether the patient still has to go to the source.
func (s TransferState) Waiting() bool { return s.Status == "created" || s.Status == "authorizing" }

// Running reports whether the worker is busy with the transfer.
func (s TransferState) Running() bool { return !s.Final && !s.Waiting() }

// TransferStep is one step of the state machine: done, current or todo.
type TransferStep struct {
	Label string `json:"label"`
	State string `json:"state"`
}

// TransferDocument is a received document with its provenance.
type TransferDocument struct {
	ID, Title, Source     string
	SizeBytes             int64
	Received, ReceivedISO string
	SHA256, CorrelationID string
}

// TransferDocumentsView is "Ontvangen documenten".
type TransferDocumentsView struct {
	Page
	Documents []TransferDocument
}

// Size formats a byte count for people: "812 kB", "3,4 MB" in Dutch, "3.4 MB" in English.
func Size(l Lang, n int64) string {
	var s string
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		s = fmt.Sprintf("%d kB", (n+500)/1000)
	default:
		s = fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	if l == NL {
		b := []byte(s)
		for i := range b {
			if b[i] == '.' {
				b[i] = ','
			}
		}
		s = string(b)
	}
	return s
}

// SizeText formats the document's size (for templates).
func (d TransferDocument) SizeText(l Lang) string { return Size(l, d.SizeBytes) }
