package exportdb_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"

	"github.com/pgo-koppelvlak/pgo/export"
)

// BenchmarkSealedRead splits a download's work on the source below HTTP: the
// sealed slices from PostgreSQL alone (slices), and with decryption and the
// size + SHA-256 check of Serving.Open (open), for a 1 MB and a 20 MB document.
// It reads through a pool of its own (otherProcess), as `pgo serve` reads what
// the worker stored.
//
//	go test -run '^$' -bench SealedRead -count 5 ./export/exportdb/
func BenchmarkSealedRead(b *testing.B) {
	f := newFixture(b)
	reader := f.otherProcess(b)
	serving := export.NewServing(export.ServingConfig{Store: reader, Opener: export.StreamSeal{V: f.vault}})
	ctx := context.Background()
	for _, n := range []int{1 << 20, 20 << 20} {
		doc := make([]byte, n)
		_, _ = rand.Read(doc)
		job := storeDoc(b, f, doc)
		read := func(b *testing.B, open func() (io.ReadCloser, error)) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				rc, err := open()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		}
		b.Run(fmt.Sprintf("slices-%dMB", n>>20), func(b *testing.B) {
			read(b, func() (io.ReadCloser, error) { return reader.SealedReader(ctx, job.ID) })
		})
		b.Run(fmt.Sprintf("open-%dMB", n>>20), func(b *testing.B) {
			read(b, func() (io.ReadCloser, error) { return serving.Open(ctx, job) })
		})
	}
}
