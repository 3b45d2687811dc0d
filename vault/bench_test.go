package vault

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// Benchmarks print MB/s for encrypt and decrypt (b.SetBytes) at the sizes the export
// produces: a 1 MB document and a 20 MB one, held in memory or streamed.
var benchSizes = []int{1 << 20, 20 << 20}

func sizeName(n int) string { return fmt.Sprintf("%dMB", n>>20) }

func BenchmarkSeal(b *testing.B) {
	_, v := newKeyset(b)
	for _, n := range benchSizes {
		plain := pseudoRandom(n, 1)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := v.Seal("bench", plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	_, v := newKeyset(b)
	for _, n := range benchSizes {
		ct, err := v.Seal("bench", pseudoRandom(n, 1))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := v.Open("bench", ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSealWriter(b *testing.B) {
	_, v := newKeyset(b)
	for _, n := range benchSizes {
		plain := pseudoRandom(n, 1)
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				w, err := v.SealWriter(io.Discard, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(w, bytes.NewReader(plain)); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenReader(b *testing.B) {
	_, v := newKeyset(b)
	for _, n := range benchSizes {
		ct := sealStream(b, v, "bench", pseudoRandom(n, 1))
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				r, err := v.OpenReader(bytes.NewReader(ct), "bench")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRewrap shows what the re-encrypt task pays per object after a rotation.
func BenchmarkRewrap(b *testing.B) {
	_, v := newKeyset(b)
	for _, n := range benchSizes {
		ct, err := v.Seal("bench", pseudoRandom(n, 1))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := v.Rewrap("bench", ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
