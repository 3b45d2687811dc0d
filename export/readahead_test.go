package export

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
)

// sourceRC is a test source: data, then err (io.EOF when nil), and whether it
// was closed.
type sourceRC struct {
	r      io.Reader
	err    error
	closed bool
}

func (s *sourceRC) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF && s.err != nil {
		err = s.err
	}
	return n, err
}

func (s *sourceRC) Close() error { s.closed = true; return nil }

// The read-ahead hands on exactly the source's bytes, at every size around its
// buffer size, through Read in odd-sized reads and through WriteTo.
func TestAheadReaderBytes(t *testing.T) {
	for _, n := range []int{0, 1, aheadSize - 1, aheadSize, aheadSize + 1, (aheadDepth+2)*aheadSize + 7} {
		want := make([]byte, n)
		_, _ = rand.Read(want)
		t.Run(fmt.Sprintf("read-%d", n), func(t *testing.T) {
			src := &sourceRC{r: bytes.NewReader(want)}
			a := newAheadReader(src)
			var got bytes.Buffer
			if _, err := io.CopyBuffer(&got, struct{ io.Reader }{a}, make([]byte, 9973)); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil || !src.closed {
				t.Fatalf("close: %v, source closed %v", err, src.closed)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("got %d bytes, want %d, or they differ", got.Len(), n)
			}
		})
		t.Run(fmt.Sprintf("writeto-%d", n), func(t *testing.T) {
			a := newAheadReader(&sourceRC{r: bytes.NewReader(want)})
			defer a.Close()
			var got bytes.Buffer
			if m, err := a.WriteTo(&got); err != nil || m != int64(n) || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("WriteTo: %d bytes, %v", m, err)
			}
		})
	}
}

// An error of the source (a damaged document's hash) reaches the consumer after
// every byte read before it, through Read and through WriteTo.
func TestAheadReaderError(t *testing.T) {
	damaged := errors.New("export x: 700000 bytes or their SHA-256 differ from the job's")
	data := make([]byte, 2*aheadSize+123)
	a := newAheadReader(&sourceRC{r: bytes.NewReader(data), err: damaged})
	got, err := io.ReadAll(struct{ io.Reader }{a})
	if !errors.Is(err, damaged) || len(got) != len(data) {
		t.Fatalf("Read: %d bytes, %v; want %d bytes, then the damage", len(got), err, len(data))
	}
	a.Close()
	a = newAheadReader(&sourceRC{r: bytes.NewReader(data), err: damaged})
	defer a.Close()
	if n, err := a.WriteTo(io.Discard); !errors.Is(err, damaged) || n != int64(len(data)) {
		t.Fatalf("WriteTo: %d bytes, %v; want %d bytes, then the damage", n, err, len(data))
	}
}

// Closing before the end stops the goroutine reading ahead (it is waited for),
// closes the source, and may be repeated.
func TestAheadReaderCloseEarly(t *testing.T) {
	src := &sourceRC{r: bytes.NewReader(make([]byte, 10*aheadSize))}
	a := newAheadReader(src)
	if _, err := io.ReadFull(a, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	default:
		t.Fatal("the read-ahead goroutine still runs after Close")
	}
	if !src.closed {
		t.Fatal("source not closed")
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
