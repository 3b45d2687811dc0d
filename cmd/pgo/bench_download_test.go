package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// readSizes is a response body that records the size of every Read asked of it.
type readSizes struct {
	r     io.Reader
	sizes []int
}

func (b *readSizes) Read(p []byte) (int, error) {
	b.sizes = append(b.sizes, len(p))
	return b.r.Read(p)
}

func (b *readSizes) Close() error { return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBenchDownloadReadsLikeTheTarget: `pgo bench download` reads a document as
// the target's client does, in Reads of its whole buffer, not io.Copy's 8 KiB (over
// HTTP/2 each Read returns flow-control window to the source: BENCHMARKS.md round 16).
func TestBenchDownloadReadsLikeTheTarget(t *testing.T) {
	const size = 3<<20 + 12345
	body := &readSizes{r: bytes.NewReader(make([]byte, size))}
	c := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		return &http.Response{StatusCode: http.StatusOK, Body: body, Header: http.Header{}, Request: r}, nil
	})}
	d := benchDoc{url: "https://noord.localhost/51/fhir/Binary/x", tok: "tok", corr: "c", buf: make([]byte, readBufSize)}
	n, err := d.get(context.Background(), &benchRig{}, c)
	if err != nil || n != size {
		t.Fatalf("get = %d, %v; want %d", n, err, size)
	}
	for i, s := range body.sizes {
		if s != readBufSize {
			t.Fatalf("Read %d of %d asked for %d bytes, want %d (all: %v)", i+1, len(body.sizes), s, readBufSize, body.sizes)
		}
	}
	if len(body.sizes) < 4 {
		t.Errorf("%d Reads for %d bytes", len(body.sizes), size)
	}
}
