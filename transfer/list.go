package transfer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// remoteDoc is one PDF the source lists: its DocumentReference id, the Binary URL
// and what the attachment announces.
type remoteDoc struct {
	ID    string
	URL   string // absolute, under the source's FHIR base
	Title string
	Size  int64  // attachment.size; 0 when absent
	Hash  []byte // attachment.hash (SHA-1); nil when absent
}

// maxBundleBytes bounds the search result: a list of a few DocumentReferences.
const maxBundleBytes = 4 << 20

// list asks the source for the current documents: GET [base]/DocumentReference?
// status=current (MedMij PGO-koppelvlak; never a patient or subject parameter: the
// token names the patient). The Bundle is parsed strictly (STU3, or R4), and every
// PDF attachment must point into the source's own FHIR base.
func (s *Service) list(ctx context.Context, t Transfer, token string) ([]remoteDoc, *Failure) {
	ctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
	defer cancel()
	resp, f := s.do(ctx, http.MethodGet, t.ResourceURI+"/DocumentReference?status=current", token,
		http.Header{"Accept": {"application/fhir+json"}})
	if f != nil {
		return nil, f
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil {
		return nil, transient(ReasonUnavailable, "the document list broke off while reading")
	}
	if len(body) > maxBundleBytes {
		return nil, fail(ReasonBadBundle, "the document list is larger than %d bytes", maxBundleBytes)
	}
	docs, f := parseList(t.ResourceURI, body)
	if f == nil {
		f = s.checkAnnounced(docs)
	}
	if f != nil {
		return nil, f
	}
	return docs, nil
}

func parseList(base string, body []byte) ([]remoteDoc, *Failure) {
	typ, entries, err := fhir.ReadBundle(body)
	if err != nil {
		return nil, fail(ReasonBadBundle, "the document list is not a valid Bundle: %s", clip(err.Error(), 2*maxEcho))
	}
	if typ != "searchset" {
		return nil, fail(ReasonBadBundle, "the document list is a %s Bundle, not a searchset", typ)
	}
	if len(entries) == 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no current documents")
	}
	v, err := fhir.Detect(entries)
	if err == nil {
		_, err = fhir.Validate(v, entries)
	}
	if err != nil {
		return nil, fail(ReasonBadBundle, "the document list is not valid FHIR: %s", clip(err.Error(), 2*maxEcho))
	}
	var out []remoteDoc
	var notCurrent []string // the statuses of the DocumentReferences passed over
	for _, e := range entries {
		docs, status, f := documentsOf(base, e)
		if f != nil {
			return nil, f
		}
		if status != "current" && status != "" {
			notCurrent = append(notCurrent, status)
			continue
		}
		out = append(out, docs...)
	}
	if len(out) == 0 && len(notCurrent) > 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no current PDF document: %d DocumentReference(s) not current, the first with status %s",
			len(notCurrent), echo(notCurrent[0]))
	}
	if len(out) == 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no PDF document")
	}
	if f := repeated(out); f != nil {
		return nil, f
	}
	if len(out) > maxDocuments {
		return nil, fail(ReasonBadBundle, "the document list names %d PDF documents, more than the %d one transfer takes", len(out), maxDocuments)
	}
	return out, nil
}

// maxDocuments is the most PDF documents one transfer takes. Gegevensdienst 51
// (Verzamelen Documenten 3.0, pdf/a) is one PDF document; a few more leave room
// for a source that splits the dossier, while every document is held in memory
// until all are verified, so a list cannot make the target fetch without end.
const maxDocuments = 8

// repeated refuses a list that names one Binary, or one DocumentReference, twice:
// the same document would be fetched and stored once per mention. fhir.Validate
// already refuses two entries with one resource id; the URL is checked here.
func repeated(docs []remoteDoc) *Failure {
	urls := make(map[string]bool, len(docs))
	ids := make(map[string]bool, len(docs)) // the documents' ids, and "ref#" for a reference with numbered contents
	for _, d := range docs {
		if urls[d.URL] {
			return fail(ReasonBadBundle, "the document list names the Binary of document %s more than once", d.ID)
		}
		urls[d.URL] = true
		ref, _, numbered := strings.Cut(d.ID, "#") // documentsOf numbers the contents of one reference
		if ids[d.ID] || numbered && ids[ref] || !numbered && ids[ref+"#"] {
			return fail(ReasonBadBundle, "the document list names DocumentReference %s more than once", ref)
		}
		ids[d.ID] = true
		if numbered {
			ids[ref+"#"] = true
		}
	}
	return nil
}

// checkAnnounced refuses, before anything is downloaded, a list whose announced
// sizes together exceed what maxDocuments documents of the largest allowed size
// take (each size counted at most just over that size, so the sum cannot
// overflow).
func (s *Service) checkAnnounced(docs []remoteDoc) *Failure {
	var sum int64
	for _, d := range docs {
		sum += min(max(d.Size, 0), s.c.MaxDocumentBytes+1)
	}
	if sum > s.c.MaxDocumentBytes*maxDocuments {
		return fail(ReasonTooLarge, "the documents listed announce %d bytes together, more than %d", sum, s.c.MaxDocumentBytes*maxDocuments)
	}
	return nil
}

// documentsOf returns the PDF attachments of one entry (other resource types, such
// as an OperationOutcome with search mode "outcome", carry none) and, for a
// DocumentReference, its status. Only a current one is the patient's dossier
// (FHIR STU3 §DocumentReference.status: superseded has been replaced,
// entered-in-error was wrong): the caller passes over any other, whatever the
// source answered to ?status=current. The status is checked before the
// attachments, so a DocumentReference passed over fails nothing.
func documentsOf(base string, e fhir.Entry) ([]remoteDoc, string, *Failure) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(e.JSON, &head) != nil || head.ResourceType != "DocumentReference" {
		return nil, "", nil
	}
	var d fhir.DocumentReference
	if err := json.Unmarshal(e.JSON, &d); err != nil {
		return nil, "", fail(ReasonBadBundle, "entry %d: DocumentReference does not decode", e.Index)
	}
	if d.ID == "" {
		return nil, "", fail(ReasonBadBundle, "entry %d: DocumentReference has no id", e.Index)
	}
	if d.Status != "current" {
		if d.Status == "" {
			return nil, "", fail(ReasonBadBundle, "entry %d: DocumentReference has no status", e.Index)
		}
		return nil, d.Status, nil
	}
	var out []remoteDoc
	for i, c := range d.Content {
		a := c.Attachment
		if !strings.EqualFold(strings.TrimSpace(strings.Split(a.ContentType, ";")[0]), "application/pdf") {
			continue
		}
		u, ok := binaryURL(base, a.URL)
		if !ok {
			return nil, "", fail(ReasonBadBundle, "entry %d: content[%d].attachment.url is not a Binary of the source", e.Index, i)
		}
		id := d.ID
		if len(d.Content) > 1 {
			id = d.ID + "#" + strconv.Itoa(i)
		}
		out = append(out, remoteDoc{ID: id, URL: u, Title: clip(a.Title, maxTitle), Size: a.Size, Hash: a.Hash})
	}
	return out, d.Status, nil
}

// maxTitle bounds attachment.title in characters. The title is the source's
// word: it is stored with the document (transfer_document.title) and shown in
// the list of received documents, so a hostile source must not fill a row or a
// page with it. It is cut like a failure detail (clip: on a rune boundary,
// marked with "…"), not refused: a long title does not make the PDF wrong.
const maxTitle = 200

// binaryURL resolves an attachment URL against the FHIR base (FHIR §3.1.0.1.2:
// relative references are relative to the service base) and accepts only a Binary
// under that base, so the bearer token never goes elsewhere.
func binaryURL(base, ref string) (string, bool) {
	b, err := url.Parse(base + "/")
	if err != nil {
		return "", false
	}
	r, err := url.Parse(ref)
	if err != nil || ref == "" {
		return "", false
	}
	abs := b.ResolveReference(r)
	abs.Fragment = ""
	prefix := strings.TrimSuffix(base, "/") + "/Binary/"
	s := abs.String()
	id := strings.TrimPrefix(s, prefix)
	if !strings.HasPrefix(s, prefix) || id == "" || strings.ContainsAny(id, "/?#") {
		return "", false
	}
	return s, true
}
