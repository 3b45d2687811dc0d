// Package reqctx carries what the server learns about a request (its request and
// correlation ids, the verified peer certificate) in a context.Context, so that code
// which must not import the server (domain packages, outbound HTTP clients, the
// worker) can read and forward them. It also provides the slog handler that puts the
// ids on every log line. It imports only the standard library.
//
// MedMij requires every request between PGOs to carry MedMij-Request-ID (a fresh
// UUID per request) and X-Correlation-ID (one UUID per transfer); the RIVO-Noord
// logging convention uses X-Request-Id / X-Correlation-Id. Both sides store them on
// audit records so that one transfer can be followed across both logs.
package reqctx

import (
	"context"
	"crypto/rand"
	"fmt"
)

// Header names. HTTP header names are case-insensitive (RFC 9110 §5.1); these are
// the spellings we send.
const (
	HeaderMedMijRequestID = "MedMij-Request-ID"
	HeaderRequestID       = "X-Request-Id"
	HeaderCorrelationID   = "X-Correlation-ID"
)

// MaxIDLength is the longest inbound id we keep.
const MaxIDLength = 128

// IDs are the request id (one per HTTP request) and the correlation id (one per
// flow, e.g. one transfer) of the request being handled.
type IDs struct {
	Request     string
	Correlation string
}

type idsKey struct{}

// WithIDs returns ctx carrying ids.
func WithIDs(ctx context.Context, ids IDs) context.Context {
	return context.WithValue(ctx, idsKey{}, ids)
}

// FromContext returns the ids in ctx; the zero IDs when there are none.
func FromContext(ctx context.Context) IDs {
	ids, _ := ctx.Value(idsKey{}).(IDs)
	return ids
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string { return FromContext(ctx).Request }

// CorrelationID returns the correlation id in ctx, or "".
func CorrelationID(ctx context.Context) string { return FromContext(ctx).Correlation }

// ValidID reports whether s may be kept as an inbound id: WellFormedID, and no
// BSN inside. This admits UUIDs and the 12-character NanoIDs of the RIVO-Noord
// convention and nothing that could break a log line or a header.
// An id holding a BSN (a run of exactly nine digits passing the elfproef) is not
// kept either: ids go onto every log line and into audit records, where a BSN
// must never be (and where the audit validation would refuse the whole
// transaction).
func ValidID(s string) bool { return WellFormedID(s) && !holdsBSN(s) }

// WellFormedID reports whether s is 1 to 128 characters of [A-Za-z0-9_.:-], the
// shape of every id this service writes. Unlike ValidID it says nothing about
// digit runs inside: a search for an id already stored (an account created
// before ids were drawn BSN-free, say) must find it.
func WellFormedID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// holdsBSN reports whether s has a run of exactly nine digits that passes the
// elfproef (weights 9..2 and -1, sum divisible by 11).
func holdsBSN(s string) bool {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i == 9 {
			sum := 0
			for k := 0; k < 8; k++ {
				sum += (9 - k) * int(s[i+k]-'0')
			}
			sum -= int(s[i+8] - '0')
			if sum%11 == 0 && s[i:j] != "000000000" {
				return true
			}
		}
		if j == i {
			j++
		}
		i = j
	}
	return false
}

// NewID returns a fresh random UUID (version 4, RFC 9562 §5.4) in its lower-case
// text form.
//
// A random UUID's last group holds a nine-digit run that passes the elfproef about
// once in a thousand ids; such an id would be refused as a possible BSN by ValidID
// and by the audit log, so it is drawn again.
func NewID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		if !holdsBSN(id) {
			return id
		}
	}
}
