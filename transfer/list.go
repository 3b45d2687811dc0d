package transfer

import (
	"context"
	"encoding/json"
	"fmt"
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

// maxBundleBytes bounds one page of the search result: a list of a few
// DocumentReferences.
const maxBundleBytes = 4 << 20

// maxPages bounds the pages of the search result one transfer reads. A source
// may split its searchset and link each page to the next (FHIR STU3
// http.html#paging, search.html#count: Bundle.link with relation "next"); a
// source paging one DocumentReference per page still hands over the
// maxDocuments one transfer takes. A list that goes on longer is refused, not
// cut short: a dossier missing its later pages must not pass as complete.
const maxPages = maxDocuments

// list asks the source for the current documents: GET [base]/DocumentReference?
// status=current (MedMij PGO-koppelvlak; never a patient or subject parameter: the
// token names the patient), then every next page the source links. Each page is
// one request with its own time, size and header bounds, parsed strictly (STU3,
// or R4); every PDF attachment must point into the source's own FHIR base, and
// every next link must be a DocumentReference search there, asked at most once.
// When the source declares Bundle.total, the pages must hold exactly that many
// matches (listing.declare, listing.complete).
func (s *Service) list(ctx context.Context, t Transfer, token string) ([]remoteDoc, *Failure) {
	l := listing{base: t.ResourceURI, asked: map[string]int{}}
	for next := t.ResourceURI + "/DocumentReference?status=current"; next != ""; {
		if f := l.ask(next); f != nil {
			return nil, f
		}
		body, f := s.page(ctx, next, token, len(l.asked))
		if f != nil {
			return nil, f
		}
		if next, f = l.add(body); f != nil {
			return nil, f
		}
	}
	if f := l.complete(); f != nil {
		return nil, f
	}
	docs, f := l.result()
	if f == nil {
		f = s.checkAnnounced(docs)
	}
	if f != nil {
		return nil, f
	}
	return docs, nil
}

// page reads page n of the search result, at most maxBundleBytes, within
// RequestTimeout.
func (s *Service) page(ctx context.Context, u, token string, n int) ([]byte, *Failure) {
	ctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
	defer cancel()
	resp, f := s.do(ctx, http.MethodGet, u, token, http.Header{"Accept": {"application/fhir+json"}})
	if f != nil {
		return nil, onPage(n, f)
	}
	name := pageName(n)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil {
		return nil, transient(ReasonUnavailable, "%s broke off while reading", name)
	}
	if len(body) > maxBundleBytes {
		return nil, fail(ReasonBadBundle, "%s is larger than %d bytes", name, maxBundleBytes)
	}
	return body, nil
}

// listing gathers the documents of the search result over its pages.
type listing struct {
	base       string
	asked      map[string]int // the page URLs asked, each with its page number
	entries    int            // the entries of all pages
	docs       []remoteDoc
	notCurrent []string // the statuses of the DocumentReferences passed over
	// matches counts the DocumentReferences of all pages that are matches of
	// the search (listing.add), whatever their status; total is the Bundle.total
	// page totalAt declared first (totalAt 0: no page has declared one).
	matches int
	total   int64
	totalAt int
}

// ask records u as the next page to read. A page asked before (a next link back
// to it) is a loop, and a page past maxPages one too many: both are refused
// before the request, so the list cannot make the target ask without end.
func (l *listing) ask(u string) *Failure {
	n := len(l.asked)
	if before, ok := l.asked[u]; ok {
		return fail(ReasonBadBundle, "page %d of the document list links back to page %d as its next page: the list would never end", n, before)
	}
	if n >= maxPages {
		return fail(ReasonBadBundle, "the document list goes on past %d pages (page %d links a next one), more than one transfer reads", maxPages, n)
	}
	l.asked[u] = n + 1
	return nil
}

// pageName names page n in a failure detail; the first page is the document
// list itself, as when the source does not page.
func pageName(n int) string {
	if n > 1 {
		return fmt.Sprintf("page %d of the document list", n)
	}
	return "the document list"
}

// onPage says in f's detail that f came from page n, when that is not the first.
func onPage(n int, f *Failure) *Failure {
	if n > 1 {
		f.Detail = clip(pageName(n)+": "+f.Detail, maxDetail)
	}
	return f
}

// add reads the page asked last and returns the URL of the next page ("" after
// the last). The counts that bound one list (no document named twice, at most
// maxDocuments) hold over all pages read so far, so a long list is refused
// before its next page is asked.
func (l *listing) add(body []byte) (string, *Failure) {
	n := len(l.asked)
	name := pageName(n)
	p, err := fhir.ReadPage(body)
	if err != nil {
		return "", fail(ReasonBadBundle, "%s is not a valid Bundle: %s", name, clip(err.Error(), 2*maxEcho))
	}
	if p.Type != "searchset" {
		return "", fail(ReasonBadBundle, "%s is a %s Bundle, not a searchset", name, p.Type)
	}
	if f := l.declare(p.Total); f != nil {
		return "", f
	}
	entries := p.Entries
	next, f := l.nextOf(p.Links)
	if f != nil || len(entries) == 0 {
		return next, f // a page without entries adds none; result refuses a list without any
	}
	v, err := fhir.Detect(entries)
	if err == nil {
		_, err = fhir.Validate(v, entries)
	}
	if err != nil {
		return "", fail(ReasonBadBundle, "%s is not valid FHIR: %s", name, clip(err.Error(), 2*maxEcho))
	}
	l.entries += len(entries)
	for _, e := range entries {
		docs, status, f := documentsOf(l.base, e)
		if f != nil {
			return "", onPage(n, f)
		}
		if status != "" && e.SearchMode != "include" && e.SearchMode != "outcome" {
			l.matches++ // a DocumentReference (documentsOf returns a status only for one)
		}
		if status != "current" && status != "" {
			l.notCurrent = append(l.notCurrent, status)
			continue
		}
		l.docs = append(l.docs, docs...)
	}
	if f := repeated(l.docs); f != nil {
		return "", f
	}
	if len(l.docs) > maxDocuments {
		pages := ""
		if n > 1 {
			pages = fmt.Sprintf(" on its first %d pages", n)
		}
		return "", fail(ReasonBadBundle, "the document list names %d PDF documents%s, more than the %d one transfer takes", len(l.docs), pages, maxDocuments)
	}
	if l.totalAt > 0 && int64(l.matches) > l.total { // refused before the next page is asked
		return "", l.miscount(next != "")
	}
	return next, nil
}

// nextOf returns the page's next link (Bundle.link with relation "next", FHIR
// STU3 http.html#paging; relation types compare case-insensitively, RFC 8288
// §2.1) as an absolute URL, "" when there is none. The bearer token goes with
// it, so, as an attachment URL, it must lie under the source's FHIR base: a
// DocumentReference search there, nothing else.
func (l *listing) nextOf(links []fhir.BundleLink) (string, *Failure) {
	name := pageName(len(l.asked))
	var next []string
	for _, k := range links {
		if strings.EqualFold(strings.TrimSpace(k.Relation), "next") {
			next = append(next, k.URL)
		}
	}
	switch {
	case len(next) == 0:
		return "", nil
	case len(next) > 1:
		return "", fail(ReasonBadBundle, "%s has %d next links: which page follows is unclear", name, len(next))
	}
	u, ok := searchURL(l.base, next[0])
	if !ok {
		return "", fail(ReasonBadBundle, "%s links a next page%s that is not a DocumentReference search under the source's FHIR base; it was not asked",
			name, otherHost(l.base, next[0]))
	}
	return u, nil
}

// otherHost names the host of ref when it is not the base's (" on host ..."),
// else "".
func otherHost(base, ref string) string {
	b, err := url.Parse(base)
	r, rerr := url.Parse(ref)
	if err != nil || rerr != nil || r.Host == "" || strings.EqualFold(r.Host, b.Host) {
		return ""
	}
	return " on host " + echo(r.Host)
}

// result is the documents of all pages, or why there are none to fetch.
func (l *listing) result() ([]remoteDoc, *Failure) {
	if l.entries == 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no current documents")
	}
	if len(l.docs) == 0 && len(l.notCurrent) > 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no current PDF document: %d DocumentReference(s) not current, the first with status %s",
			len(l.notCurrent), echo(l.notCurrent[0]))
	}
	if len(l.docs) == 0 {
		return nil, fail(ReasonNoDocuments, "the source lists no PDF document")
	}
	return l.docs, nil
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
	s, ok := resolve(base, ref)
	prefix := strings.TrimSuffix(base, "/") + "/Binary/"
	id := strings.TrimPrefix(s, prefix)
	if !ok || !strings.HasPrefix(s, prefix) || id == "" || strings.ContainsAny(id, "/?#") {
		return "", false
	}
	return s, true
}

// searchURL resolves a next link as binaryURL does an attachment URL and accepts
// only a search of DocumentReference under the base ([base]/DocumentReference?
// and a query) or a paging link of the base itself as HAPI FHIR servers write
// them ([base]?_getpages=...), so the bearer token never goes elsewhere.
func searchURL(base, ref string) (string, bool) {
	s, ok := resolve(base, ref)
	if !ok {
		return "", false
	}
	base = strings.TrimSuffix(base, "/")
	if q, found := strings.CutPrefix(s, base+"/DocumentReference?"); found && q != "" {
		return s, true
	}
	for _, at := range []string{base + "?", base + "/?"} {
		if q, found := strings.CutPrefix(s, at); found {
			if v, err := url.ParseQuery(q); err == nil && v.Get("_getpages") != "" {
				return s, true
			}
		}
	}
	return "", false
}

// resolve makes ref absolute against the FHIR base, without a fragment.
func resolve(base, ref string) (string, bool) {
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
	return abs.String(), true
}
