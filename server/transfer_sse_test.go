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

	ts := httptest.NewServer(e.s.Handler())
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/ophalen/"+id+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: b.session()})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() map[string]any {
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
