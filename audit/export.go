package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
)

// ExportNDJSON writes every record matching f as one FHIR R4 AuditEvent per line
// (NDJSON, as in the FHIR Bulk Data IG), oldest first, and returns how many it
// wrote. It streams: one record is in memory at a time, whatever the period.
func ExportNDJSON(ctx context.Context, w io.Writer, s Scanner, f Filter, src Source) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	err := s.Scan(ctx, f, func(r *Record) error {
		n++
		return enc.Encode(ToAuditEvent(r, src))
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// bundleEntry is one Bundle.entry (R4): fullUrl urn:uuid:<id> and the resource.
type bundleEntry struct {
	FullURL  string     `json:"fullUrl"`
	Resource AuditEvent `json:"resource"`
}

// ExportBundle writes the records matching f as one FHIR R4 Bundle of type
// "collection", streamed entry by entry (the Bundle is never built in memory).
func ExportBundle(ctx context.Context, w io.Writer, s Scanner, f Filter, src Source) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(`{"resourceType":"Bundle","type":"collection"`); err != nil {
		return 0, err
	}
	var n int64
	err := s.Scan(ctx, f, func(r *Record) error {
		b, err := json.Marshal(bundleEntry{FullURL: "urn:uuid:" + r.ID, Resource: ToAuditEvent(r, src)})
		if err != nil {
			return err
		}
		sep := ","
		if n == 0 {
			sep = `,"entry":[` // FHIR JSON has no empty arrays: open it on the first entry
		}
		bw.WriteString(sep)
		n++
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		return n, err
	}
	end := "}\n"
	if n > 0 {
		end = "]}\n"
	}
	if _, err := bw.WriteString(end); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
