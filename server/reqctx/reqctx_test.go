package reqctx

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"0b6c1a3e-1c1d-4c1e-9a1b-2b3c4d5e6f70", true},
		{"V1StGXR8_Z5j", true},
		{"urn:uuid:1.2-3_4", true},
		{strings.Repeat("x", 128), true},
		{"", false},
		{strings.Repeat("x", 129), false},
		{"with space", false},
		{"new\nline", false},
		{"quote\"", false},
		{"slash/", false},
		{"é", false},
		// A BSN must never reach a log line or an audit record (where the audit
		// validation would refuse the whole transaction): an id that is, or holds,
		// nine digits passing the elfproef is replaced.
		{"123456782", false},
		{"bsn-123456782", false},
		{"x123456782.y", false},
		{"123456789", true},    // fails the elfproef
		{"1234567820", true},   // ten digits: not a BSN
		{"012345678901", true}, // a numeric UUID segment
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// TestWellFormedID: the shape alone. An id with a BSN-shaped run inside is well
// formed (a stored id the auditor must be able to look up); the alphabet and the
// length are still checked.
func TestWellFormedID(t *testing.T) {
	for id, want := range map[string]bool{
		"c3eac09f-662f-4b68-ba9e-408925000a4b": true, // holds 408925000, which passes the elfproef
		"bsn-123456782":                        true,
		"V1StGXR8_Z5j":                         true,
		"":                                     false,
		strings.Repeat("x", 129):               false,
		"with space":                           false,
		"slash/":                               false,
	} {
		if got := WellFormedID(id); got != want {
			t.Errorf("WellFormedID(%q) = %v, want %v", id, got, want)
		}
	}
	if ValidID("c3eac09f-662f-4b68-ba9e-408925000a4b") {
		t.Error("ValidID accepts a UUID holding a BSN-shaped run")
	}
}

// TestNewIDIsUUIDv4: fresh ids are UUIDv4 and always valid by our own rule; among
// 20,000 random UUIDs about twenty hold a nine-digit elfproef run (a "BSN").
func TestNewIDIsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for range 20000 {
		id := NewID()
		if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || !ValidID(id) {
			t.Fatalf("not a UUIDv4: %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate %q", id)
		}
		seen[id] = true
	}
}

func TestContextAndLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithIDs(context.Background(), IDs{Request: "r1", Correlation: "c1"})
	if RequestID(ctx) != "r1" || CorrelationID(ctx) != "c1" {
		t.Fatalf("ids not in context")
	}
	log.With("area", "test").InfoContext(ctx, "hello")
	log.DebugContext(ctx, "hidden")
	log.Info("no ctx")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	if !strings.Contains(lines[0], `"request_id":"r1"`) || !strings.Contains(lines[0], `"correlation_id":"c1"`) || !strings.Contains(lines[0], `"area":"test"`) {
		t.Errorf("line 1: %s", lines[0])
	}
	if strings.Contains(lines[1], "request_id") {
		t.Errorf("line 2 should have no ids: %s", lines[1])
	}
	if _, err := NewLogger(&buf, "loud"); err == nil {
		t.Error("bad level accepted")
	}
}

func TestPeer(t *testing.T) {
	c := &x509.Certificate{Raw: []byte("der"), DNSNames: []string{"a.example", "b.example"}, Subject: pkix.Name{CommonName: "cn.example"}}
	p := NewPeer(c)
	if p.Name != "a.example" || !p.HasName("b.example") || p.HasName("cn.example") || len(p.Thumbprint) != 43 {
		t.Errorf("peer %+v", p)
	}
	cnOnly := NewPeer(&x509.Certificate{Raw: []byte("x"), Subject: pkix.Name{CommonName: "cn.example"}})
	if cnOnly.Name != "cn.example" || !cnOnly.HasName("cn.example") || cnOnly.HasName("") {
		t.Errorf("cn-only peer %+v", cnOnly)
	}
	ctx := WithPeer(context.Background(), p)
	if got, ok := PeerFromContext(ctx); !ok || got.Name != "a.example" {
		t.Error("peer not in context")
	}
	if _, ok := PeerFromContext(context.Background()); ok {
		t.Error("peer in empty context")
	}
}
