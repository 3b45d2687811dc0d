package reqctx

import "net/http"

// Transport is the http.RoundTripper for calls to peer PGOs. MedMij wants a fresh
// MedMij-Request-ID per request and the flow's X-Correlation-ID on every request,
// so that both sides can follow one transfer across their logs:
//
//   - MedMij-Request-ID (and X-Request-Id, same value): kept when the caller set
//     it (to record it in its audit record first), else a fresh UUIDv4. The
//     inbound request id is never reused: each hop is its own request.
//   - X-Correlation-ID: kept when set, else the correlation id of the request
//     context, else a fresh UUIDv4.
type Transport struct {
	Base http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip adds the ids to a copy of req and sends it.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	rid := r.Header.Get(HeaderMedMijRequestID)
	if !ValidID(rid) {
		rid = NewID()
	}
	r.Header.Set(HeaderMedMijRequestID, rid)
	r.Header.Set(HeaderRequestID, rid)
	if corr := r.Header.Get(HeaderCorrelationID); !ValidID(corr) {
		if corr = CorrelationID(r.Context()); corr == "" {
			corr = NewID()
		}
		r.Header.Set(HeaderCorrelationID, corr)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
