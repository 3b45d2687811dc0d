package exportdb_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/export/exportdb"
)

// The sealed reader returns the stored bytes exactly at every size around the
// boundaries of its pieces (rows) and slices (queries): one byte, a piece
// less/more one, a slice less/more one, several slices with a partial piece.
func TestSealedReaderPieceBoundaries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	job := storeDoc(t, f, []byte("%PDF-1.7\n"))
	const p, s = exportdb.PieceSize, exportdb.SliceSize
	for _, n := range []int{1, p - 1, p, p + 1, s - 1, s, s + 1, 2*s + 3*p + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			want := make([]byte, n)
			_, _ = rand.Read(want)
			if _, err := f.db.Pool.Exec(ctx, `update export_document set sealed = $2 where job_id = $1`, job.ID, want); err != nil {
				t.Fatal(err)
			}
			rc, err := f.store.SealedReader(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, stored %d, or they differ", len(got), n)
			}
		})
	}
}

// A document that shrinks between two slices (replaced while it is read) fails
// the read with the slice's shortfall instead of ending early as if complete:
// the slice read after the change is short, or (when the next slice was read
// ahead before it) lies wholly past the new end.
func TestSealedReaderShrunkDocument(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	doc := make([]byte, 3*exportdb.SliceSize)
	_, _ = rand.Read(doc)
	job := storeDoc(t, f, doc)
	rc, err := f.store.SealedReader(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, exportdb.SliceSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `update export_document set sealed = substring(sealed from 1 for $2) where job_id = $1`,
		job.ID, exportdb.SliceSize+exportdb.PieceSize+7); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "want 1048576") {
		t.Fatalf("read of a shrunk document: %v, want the slice's shortfall", err)
	}
	t.Log(err)
}
