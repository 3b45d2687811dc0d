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
	return parseList(t.ResourceURI, body)
}

func parseList(base string, body []byte) ([]remoteDoc, *Failure) {
	typ, entries, err := fhir.ReadBundle(body)
	if err != nil {
		return nil, fail(ReasonBadBundle, "the document list is not a valid Bundle: %v", err)
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
		return nil, fail(ReasonBadBundle, "the document list is not valid FHIR: %v", err)
	}
	var out []remoteDoc
	for _, e := range entries {
		docs, f := documentsOf(base, e)
		if f != nil {
			return nil, f
		}
		out = append(out, docs...)
	}
	if len(out) == 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no PDF document")
	}
	return out, nil
}

// documentsOf returns the PDF attachments of one entry (other resource types, such
// as an OperationOutcome with search mode "outcome", carry none).
func documentsOf(base string, e fhir.Entry) ([]remoteDoc, *Failure) {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(e.JSON, &head) != nil || head.ResourceType != "DocumentReference" {
		return nil, nil
	}
	var d fhir.DocumentReference
	if err := json.Unmarshal(e.JSON, &d); err != nil {
		return nil, fail(ReasonBadBundle, "entry %d: DocumentReference does not decode", e.Index)
	}
	if d.ID == "" {
		return nil, fail(ReasonBadBundle, "entry %d: DocumentReference has no id", e.Index)
	}
	var out []remoteDoc
	for i, c := range d.Content {
		a := c.Attachment
		if !strings.EqualFold(strings.TrimSpace(strings.Split(a.ContentType, ";")[0]), "application/pdf") {
			continue
		}
		u, ok := binaryURL(base, a.URL)
		if !ok {
			return nil, fail(ReasonBadBundle, "entry %d: content[%d].attachment.url is not a Binary of the source", e.Index, i)
		}
		id := d.ID
		if len(d.Content) > 1 {
			id = d.ID + "#" + strconv.Itoa(i)
		}
		out = append(out, remoteDoc{ID: id, URL: u, Title: a.Title, Size: a.Size, Hash: a.Hash})
	}
	return out, nil
}

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
