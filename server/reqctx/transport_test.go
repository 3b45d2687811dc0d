package reqctx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTransport(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	client := &http.Client{Transport: Transport{}}
	inbound := WithIDs(context.Background(), IDs{Request: "inbound-req", Correlation: "flow-7"})
	tests := []struct {
		name              string
		ctx               context.Context
		setReq, setCorr   string
		wantReq, wantCorr string // "" = fresh UUIDv4
		notReq            string
	}{
		{"forwards correlation, fresh request id", inbound, "", "", "", "flow-7", "inbound-req"},
		{"caller's ids kept", inbound, "my-req-1", "my-flow", "my-req-1", "my-flow", ""},
		{"malformed caller ids replaced", inbound, "bad id", "bad flow", "", "flow-7", "bad id"},
		{"no context: both fresh", context.Background(), "", "", "", "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(tt.ctx, http.MethodGet, srv.URL, nil)
		if tt.setReq != "" {
			req.Header.Set(HeaderMedMijRequestID, tt.setReq)
		}
		if tt.setCorr != "" {
			req.Header.Set(HeaderCorrelationID, tt.setCorr)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rid, corr := got.Get(HeaderMedMijRequestID), got.Get(HeaderCorrelationID)
		if got.Get(HeaderRequestID) != rid {
			t.Errorf("%s: X-Request-Id %q != MedMij-Request-ID %q", tt.name, got.Get(HeaderRequestID), rid)
		}
		check := func(what, got, want string) {
			if (want == "" && (len(got) != 36 || got[14] != '4')) || (want != "" && got != want) {
				t.Errorf("%s: %s = %q, want %q", tt.name, what, got, want)
			}
		}
		check("request id", rid, tt.wantReq)
		check("correlation id", corr, tt.wantCorr)
		if tt.notReq != "" && rid == tt.notReq {
			t.Errorf("%s: request id %q reused", tt.name, rid)
		}
		if tt.setReq == "" && req.Header.Get(HeaderMedMijRequestID) != "" {
			t.Errorf("%s: caller's request was modified", tt.name)
		}
	}
}
