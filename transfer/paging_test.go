package transfer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// A source may page its search result (FHIR STU3 http.html#paging: Bundle.link
// with relation "next"). The target reads every page, so the documents on later
// pages are not silently left behind, and a next link is followed only as a
// DocumentReference search under the source's FHIR base (the bearer token goes
// with it), at most once per URL and for at most 8 pages.

// searches returns the queries of the source's DocumentReference searches, and
// the paths of the other GET requests but Binary reads and the metadata read
// that finds the revocation endpoint.
func searches(e *env) (queries, other []string) {
	for _, s := range e.src.Seen() {
		switch {
		case s.Method != "GET" || s.Path == "/.well-known/oauth-authorization-server" || strings.Contains(s.Path, "/fhir/Binary/"):
		case strings.HasSuffix(s.Path, "/fhir/DocumentReference"), strings.HasSuffix(s.Path, "/fhir") && strings.HasPrefix(s.Query, "_getpages="):
			queries = append(queries, s.Query)
		default:
			other = append(other, s.Path)
		}
	}
	return queries, other
}

// refused wants the transfer failed as a bad list with want in its detail,
// nothing downloaded and nothing stored.
func refused(t *testing.T, e *env, tr transfer.Transfer, want string) {
	t.Helper()
	if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonBadBundle || !strings.Contains(tr.FailureDetail, want) {
		t.Errorf("status %s, reason %s (%s); want failed, %s: %s", tr.Status, tr.Failure, tr.FailureDetail, transfer.ReasonBadBundle, want)
	}
	if len(tr.FailureDetail) > 200 {
		t.Errorf("failure detail of %d bytes; want at most 200", len(tr.FailureDetail))
	}
	if n := binaryGETs(e); n != 0 {
		t.Errorf("%d Binary reads; want none", n)
	}
	if n := e.documents(t, tr.ID); n != 0 {
		t.Errorf("%d documents stored; want none", n)
	}
}

// TestPagedListTransfersEveryPage: the documents of every page arrive, each
// page asked once; a source that does not page is asked once (no extra request).
func TestPagedListTransfersEveryPage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages int
		hapi  bool
		want  []string // the search queries, in order
	}{
		{"one page", 0, false, []string{"status=current"}},
		{"two pages", 2, false, []string{"status=current", "status=current&_page=2"}},
		{"three pages", 3, false, []string{"status=current", "status=current&_page=2", "status=current&_page=3"}},
		{"three pages, HAPI's links", 3, true, []string{"status=current", "_getpages=2", "_getpages=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			e.src.Set(transfertest.Faults{Pages: tc.pages, HAPIPaging: tc.hapi, Mode: "stu3", AnnounceSize: true, AnnounceHash: true, Digest: true})
			tr := e.fetch(t, e.consent(t).ID)
			if tr.Status != transfer.StatusDone {
				t.Fatalf("status %s (%s: %s); want done", tr.Status, tr.Failure, tr.FailureDetail)
			}
			docs, err := e.svc.Documents(context.Background(), e.actor.UserID, tr.ID)
			if err != nil || len(docs) != len(tc.want) {
				t.Fatalf("%d documents stored (%v); want %d, one per page", len(docs), err, len(tc.want))
			}
			for _, d := range docs {
				_, r, err := e.svc.OpenDocument(context.Background(), e.actor.UserID, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if _, err := b.ReadFrom(r); err != nil || !bytes.Equal(b.Bytes(), e.pdf) {
					t.Errorf("document %s: %d bytes (%v); want the source's PDF", d.ID, b.Len(), err)
				}
			}
			if q, other := searches(e); strings.Join(q, " ") != strings.Join(tc.want, " ") || len(other) != 0 {
				t.Errorf("searches %q, other FHIR requests %q; want %q and none", q, other, tc.want)
			}
			if n := binaryGETs(e); n != len(tc.want) {
				t.Errorf("%d Binary reads; want %d", n, len(tc.want))
			}
		})
	}
}

// TestPagedListNextElsewhere: a next link to another host, or to anything on
// the source's host that is not a DocumentReference search under its FHIR base,
// is refused before it is asked: the bearer token is not sent there.
func TestPagedListNextElsewhere(t *testing.T) {
	t.Run("another host", func(t *testing.T) {
		e := newEnv(t, true, nil)
		other, hits := otherNode(t, e) // doel.localhost, on the Whitelist
		e.src.Set(transfertest.Faults{NextLink: other + "/51/fhir/DocumentReference?status=current&_page=2"})
		tr := e.fetch(t, e.consent(t).ID)
		host := strings.TrimPrefix(other, "https://")
		refused(t, e, tr, `the document list links a next page on host "`+host+`" that is not a DocumentReference search under the source's FHIR base`)
		if n := hits.Load(); n != 0 {
			t.Errorf("the other host received %d requests; want none", n)
		}
	})
	for _, next := range []string{
		"http://{host}/51/fhir/DocumentReference?status=current&_page=2",   // not https
		"https://{host}@doel.localhost/51/fhir/DocumentReference?_page=2",  // userinfo: another host
		"{base}/../../oauth/revoke?token=x",                                // out of the base
		"../DocumentReference?status=current&_page=2",                      // relative, out of the base
		"{base}/DocumentReference/port-DocumentReference-XXX-Rijn?_page=2", // a read, not a search
		"{base}/DocumentReference/_search?status=current&_page=2",          // not the search URL
		"{base}/Patient?_page=2",                                           // another resource type
		"{base}/Binary/port-Binary-XXX-Rijn",                               // a Binary, not a page
		"{base}/DocumentReference",                                         // no query
		"{base}/DocumentReference?",                                        // an empty query
		"{base}/DocumentReference%3Fstatus=current",                        // an escaped "?"
	} {
		t.Run(next, func(t *testing.T) {
			e := newEnv(t, true, nil)
			host := strings.TrimPrefix(e.src.URL, "https://")
			e.src.Set(transfertest.Faults{NextLink: strings.ReplaceAll(next, "{host}", host)})
			tr := e.fetch(t, e.consent(t).ID)
			refused(t, e, tr, "links a next page")
			if q, other := searches(e); len(q) != 1 || len(other) != 0 {
				t.Errorf("searches %q, other FHIR requests %q; want only the first search", q, other)
			}
		})
	}
}

// TestPagedListLoop: a next link to a page already read is refused with the
// pages it joins; one that only looks new (another query) serving a page read
// before is refused for naming its documents again.
func TestPagedListLoop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pages    int
		next     string
		want     string
		searches int
	}{
		{"to itself", 0, "{base}/DocumentReference?status=current", "page 1 of the document list links back to page 1 as its next page", 1},
		{"back to the first", 3, "{base}/DocumentReference?status=current", "page 3 of the document list links back to page 1 as its next page", 3},
		{"back to the last", 2, "{base}/DocumentReference?status=current&_page=2", "page 2 of the document list links back to page 2 as its next page", 2},
		{"the first page again, disguised", 0, "{base}/DocumentReference?status=current&_page=1",
			"the document list names the Binary of document port-DocumentReference-XXX-Rijn more than once", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			e.src.Set(transfertest.Faults{Pages: tc.pages, NextLink: tc.next})
			tr := e.fetch(t, e.consent(t).ID)
			refused(t, e, tr, tc.want)
			if q, _ := searches(e); len(q) != tc.searches {
				t.Errorf("%d searches %q; want %d", len(q), q, tc.searches)
			}
		})
	}
}

// TestPagedListTooLong: a list that goes on past 8 pages, or names more than
// the 8 documents one transfer takes over its pages, is refused before its
// next page is asked and before anything is downloaded.
func TestPagedListTooLong(t *testing.T) {
	t.Run("nine pages", func(t *testing.T) {
		e := newEnv(t, true, nil)
		e.src.Set(transfertest.Faults{Pages: 9})
		tr := e.fetch(t, e.consent(t).ID)
		refused(t, e, tr, "the document list goes on past 8 pages (page 8 links a next one)")
		if q, _ := searches(e); len(q) != 8 {
			t.Errorf("%d searches; want 8", len(q))
		}
	})
	t.Run("twelve documents on three pages", func(t *testing.T) {
		e := newEnv(t, true, nil)
		withContents(t, e, 4, int64(len(e.pdf)), true) // 4 + 4 on two pages: 8, the most
		e.src.Set(transfertest.Faults{Pages: 3})
		tr := e.fetch(t, e.consent(t).ID)
		refused(t, e, tr, "the document list names 12 PDF documents on its first 3 pages, more than the 8 one transfer takes")
		if q, _ := searches(e); len(q) != 3 {
			t.Errorf("%d searches; want 3", len(q))
		}
	})
	t.Run("eight documents on two pages", func(t *testing.T) { // control: the most is taken
		e := newEnv(t, true, nil)
		withContents(t, e, 4, int64(len(e.pdf)), true)
		e.src.Set(transfertest.Faults{Pages: 2, AnnounceHash: true})
		tr := e.fetch(t, e.consent(t).ID)
		if tr.Status != transfer.StatusDone || e.documents(t, tr.ID) != 8 {
			t.Errorf("status %s (%s: %s), %d documents; want done with 8", tr.Status, tr.Failure, tr.FailureDetail, e.documents(t, tr.ID))
		}
	})
}

// TestPagedListTotalMismatch: a source that declares Bundle.total (FHIR STU3:
// the matches of the whole search, on every page) must hand over that many
// matches over its pages. Fewer means later documents are missing and the
// dossier would pass as complete; more, or a total that changes between
// pages, means the count is wrong and so is the list. Each is refused before
// anything is downloaded; more is refused before the next page is asked.
func TestPagedListTotalMismatch(t *testing.T) {
	const declares = "the document list declares "
	for _, tc := range []struct {
		name     string
		pages    int
		totals   []int
		want     string
		searches int
	}{
		{"one page, total 2", 0, []int{2}, declares + "2 matching DocumentReference(s) (Bundle.total) but its page holds 1: the list is incomplete", 1},
		{"three pages, total 4", 3, []int{4}, declares + "4 matching DocumentReference(s) (Bundle.total) but its 3 pages hold 3: the list is incomplete", 3},
		{"three pages, total 4 on the last only", 3, []int{-1, -1, 4}, declares + "4 matching DocumentReference(s) (Bundle.total) but its 3 pages hold 3: the list is incomplete", 3},
		{"one page, total 0", 0, []int{0}, declares + "0 matching DocumentReference(s) (Bundle.total) but its page holds 1", 1},
		{"three pages, total 2", 3, []int{2}, declares + "2 matching DocumentReference(s) (Bundle.total) but its 3 pages hold 3", 3},
		{"three pages, total 1", 3, []int{1}, declares + "1 matching DocumentReference(s) (Bundle.total) but its first 2 page(s) hold 2", 2},
		{"three pages, total changes", 3, []int{3, 3, 4}, "page 3 of the document list declares 4 matches (Bundle.total) where page 1 declared 3", 3},
		{"HAPI's links, total 5", 3, []int{5}, declares + "5 matching DocumentReference(s) (Bundle.total) but its 3 pages hold 3: the list is incomplete", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			e.src.Set(transfertest.Faults{Pages: tc.pages, HAPIPaging: strings.HasPrefix(tc.name, "HAPI"), Totals: tc.totals})
			tr := e.fetch(t, e.consent(t).ID)
			refused(t, e, tr, tc.want)
			if q, _ := searches(e); len(q) != tc.searches {
				t.Errorf("%d searches %q; want %d", len(q), q, tc.searches)
			}
		})
	}
}

// TestPagedListTotalHolds: a true total over several pages, one stated on some
// pages only, and none at all (Bundle.total is optional in STU3) all transfer
// every document, with no extra request.
func TestPagedListTotalHolds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pages  int
		totals []int
		docs   int
	}{
		{"one page, total 1", 0, nil, 1},
		{"three pages, total 3", 3, nil, 3},
		{"one page, no total", 0, []int{-1}, 1},
		{"three pages, no total", 3, []int{-1}, 3},
		{"three pages, total on the later ones", 3, []int{-1, 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, nil)
			e.src.Set(transfertest.Faults{Pages: tc.pages, Totals: tc.totals, AnnounceHash: true})
			tr := e.fetch(t, e.consent(t).ID)
			if tr.Status != transfer.StatusDone || e.documents(t, tr.ID) != tc.docs {
				t.Errorf("status %s (%s: %s), %d documents; want done with %d", tr.Status, tr.Failure, tr.FailureDetail, e.documents(t, tr.ID), tc.docs)
			}
			if q, _ := searches(e); len(q) != max(tc.pages, 1) {
				t.Errorf("%d searches %q; want %d", len(q), q, max(tc.pages, 1))
			}
		})
	}
}
