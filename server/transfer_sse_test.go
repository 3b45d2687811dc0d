package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
)

// The progress stream follows a transfer live: its first event is the state at
// connection time, every change the worker makes reaches it through PostgreSQL
// NOTIFY (the hub's own connection, as on any server process), and it ends after
// the final state.
func TestTransferEventsFollowTheWorker(t *testing.T) {
	e := newTransferEnv(t)
	b := e.patient(t, "anouk")
	id, cb := e.consentThroughPages(t, b, nil)
	b.get(transfer.CallbackPath + "?" + cb.Encode())

	next := openEvents(t, e, b, id)
	if first := next(); first == nil || first["status"] != "authorized" {
		t.Fatalf("first event %v, want authorized", first)
	}
	fetched := make(chan error, 1)
	go func() { fetched <- e.svc.Fetch(context.Background(), id, true) }()
	var seen []string
	for v := next(); v != nil; v = next() {
		seen = append(seen, v["status"].(string))
		if v["final"] == true {
			break
		}
	}
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != "done" {
		t.Fatalf("statuses streamed %v, want them to end in done", seen)
	}
	if more := next(); more != nil {
		t.Errorf("the stream goes on after the final state: %v", more)
	}
}

// openEvents opens the transfer's progress stream as b and returns a function
// that reads the next state event (nil at the end of the stream).
func openEvents(t *testing.T, e *transferEnv, b *browser, id string) func() map[string]any {
	t.Helper()
	ts := httptest.NewServer(e.s.Handler())
	t.Cleanup(ts.Close)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ophalen/"+id+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: b.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	return func() map[string]any {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v map[string]any
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
		return nil
	}
}

// A document counts as done only once it is verified and stored: a transfer
// whose document fails its hash check never shows it as done, neither on the
// stream while it runs nor on the page after the failure ("0 van 1"); one that
// passes shows 0 until the documents are stored and 1 from then on. (The page
// of a finished transfer shows no count; the last event is what it showed.)
func TestTransferCountsOnlyStoredDocuments(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults transfertest.Faults
		final  string
		page   string
	}{
		{"hash mismatch", transfertest.Faults{AnnounceSize: true, AnnounceHash: true, WrongHash: true}, "failed", "0 van 1 documenten"},
		{"verified", transfertest.Faults{AnnounceSize: true, AnnounceHash: true}, "done", "1 van 1 documenten"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTransferEnv(t)
			e.src.Set(c.faults)
			b := e.patient(t, "anouk")
			id, cb := e.consentThroughPages(t, b, nil)
			b.get(transfer.CallbackPath + "?" + cb.Encode())
			next := openEvents(t, e, b, id)
			fetched := make(chan error, 1)
			go func() { fetched <- e.svc.Fetch(context.Background(), id, true) }()
			var last map[string]any
			for v := next(); v != nil; v = next() {
				stored := v["status"] == "stored" || v["status"] == "done"
				if want := map[bool]float64{false: 0, true: 1}[stored]; v["docs_done"] != want {
					t.Errorf("%s with docs_done %v, want %v", v["status"], v["docs_done"], want)
				}
				last = v
				if v["final"] == true {
					break
				}
			}
			<-fetched
			if last == nil || last["status"] != c.final {
				t.Fatalf("last event %v, want %s", last, c.final)
			}
			// The text the page's script puts in #transfer-docs.
			if p, _ := last["progress"].(string); !strings.HasPrefix(p, c.page) {
				t.Errorf("the page would say %q, want %q", p, c.page)
			}
		})
	}
}
