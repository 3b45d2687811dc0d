// Package export renders a patient's selected dossier (a dossier.Summary) as the
// PDF/A document that the source PGO hands over on the MedMij PGO-koppelvlak
// (gegevensdienst 51, "Verzamelen Documenten 3.0 (pdf/a)"; PGOK-FR021, FR022,
// FR041/FR042, NFR050): maroto lays it out with an embedded Go font, and
// export/pdfa makes the result PDF/A-2b (or PDF/A-1b for checking with Preflight).
//
// The package holds no database or queue code: the background task
// (export:render) calls Render with the Summary it loaded and stores the bytes and
// the Result it gets back.
package export

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export/pdfa"
)

// Conformance is the PDF/A level of the output. The zero value is PDF/A-2b.
type Conformance = pdfa.Level

// The conformance levels Render can produce.
const (
	// PDFA2B (ISO 19005-2 level B) is what the export hands over.
	PDFA2B = pdfa.A2B
	// PDFA1B (ISO 19005-1 level B) is the same template for PDFBox Preflight,
	// which validates part 1 only.
	PDFA1B = pdfa.A1B
)

// Progress is told how many items have been laid out of the total, so that a
// background task can record progress. Returning an error (e.g. ctx.Err() when the
// task's deadline passes) stops the rendering and Render returns that error.
type Progress func(done, total int) error

// Input is everything a rendering depends on; the same Input gives the same PDF
// bytes apart from the document ID (a fresh one per file, ISO 32000-1 §14.4).
type Input struct {
	Summary     dossier.Summary
	Source      string      // the source PGO's name (from the ZAL), shown on the cover page
	GeneratedAt time.Time   // generation time: on the cover page (Europe/Amsterdam) and in Info/XMP
	Conformance Conformance // zero value: PDF/A-2b
	Progress    Progress    // optional
}

// Result describes the written document. SHA1 is what a FHIR Attachment.hash
// carries (base64 of the SHA-1, FHIR R4 §2.24.0.11); Size is Attachment.size.
type Result struct {
	Pages  int
	Size   int64
	SHA256 [sha256.Size]byte
	SHA1   [sha1.Size]byte
	Proof  Proof // the completeness proof: items, strings checked, strings missing (always 0 here)
}

// AttachmentHash is SHA1 in the base64 form of FHIR Attachment.hash.
func (r Result) AttachmentHash() string { return base64.StdEncoding.EncodeToString(r.SHA1[:]) }

// Render lays out in.Summary, converts it to PDF/A and writes it to w. Nothing
// is written to w unless the whole document was produced, so a failed rendering
// never leaves half a PDF behind. Invalid input gives a *pgo.Error with code
// EINVALID that names the field; a failing library gives EINTERNAL.
func Render(w io.Writer, in Input) (Result, error) {
	if err := validate(in); err != nil {
		return Result{}, err
	}
	g, err := loadGlyphs()
	if err != nil {
		return Result{}, pgo.Wrap(pgo.EINTERNAL, err, "het lettertype kon niet worden geladen")
	}
	raw, log, err := layout(in, g)
	if err != nil {
		var stop *stopError
		if errors.As(err, &stop) {
			return Result{}, stop.err
		}
		return Result{}, pgo.Wrap(pgo.EINTERNAL, err, "het dossier kon niet worden opgemaakt")
	}
	doc, pages, err := pdfa.Convert(raw, meta(in), in.Conformance)
	if err != nil {
		return Result{}, pgo.Wrap(pgo.EINTERNAL, err, "het dossier kon niet naar PDF/A worden omgezet")
	}
	proof, err := log.check(doc, in)
	if err != nil {
		return Result{}, err
	}
	res := Result{Pages: pages, Size: int64(len(doc)), SHA256: sha256.Sum256(doc), SHA1: sha1.Sum(doc), Proof: proof}
	if _, err := io.Copy(w, bytes.NewReader(doc)); err != nil {
		return Result{}, fmt.Errorf("export: write PDF: %w", err)
	}
	if in.Progress != nil {
		total := countItems(in.Summary)
		if err := in.Progress(total, total); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// meta is the document metadata. It names no patient: the Info dictionary and XMP
// are read by indexers and viewers that the patient does not control.
func meta(in Input) pdfa.Meta {
	return pdfa.Meta{
		Title:   "Persoonlijk gezondheidsdossier",
		Author:  in.Source,
		Subject: "Overdracht van de door de patiënt geselecteerde gegevens (MedMij PGO-koppelvlak)",
		Creator: "pgo (github.com/pgo-koppelvlak/pgo) met maroto v2",
		Lang:    "nl-NL",
		Created: in.GeneratedAt.In(amsterdam).Truncate(time.Second),
	}
}

func countItems(s dossier.Summary) int {
	n := 0
	for _, sec := range s.Sections {
		n += len(sec.Items)
	}
	return n
}

// stopError carries the error a Progress callback returned out of the layout.
type stopError struct{ err error }

func (e *stopError) Error() string { return "export: stopped by progress callback: " + e.err.Error() }
