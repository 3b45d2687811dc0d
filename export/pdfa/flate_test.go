package pdfa

import (
	"bytes"
	"fmt"
	"testing"
)

// TestFlateStreamRoundTrip: a stream made with the pooled compressor is one
// pdfcpu reads back as it was written, and the pooled decompressor gives the
// same bytes for streams of different sizes in turn (a reset that kept state
// from the previous stream would corrupt the second).
func TestFlateStreamRoundTrip(t *testing.T) {
	for i, content := range [][]byte{
		bytes.Repeat([]byte{0xff, 0x00, 0x81}, 9000),
		[]byte("kort"),
		srgbICC,
		{},
	} {
		sd := flateStream(content)
		if f, _ := sd.Find("Filter"); fmt.Sprint(f) != "FlateDecode" || *sd.StreamLength != int64(len(sd.Raw)) {
			t.Fatalf("%d: Filter %v, Length %d for %d raw bytes", i, f, *sd.StreamLength, len(sd.Raw))
		}
		got, err := inflate(sd.Raw)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d: inflate: %v, %d bytes, want %d", i, err, len(got), len(content))
		}
		if err := sd.Decode(); err != nil || !bytes.Equal(sd.Content, content) {
			t.Fatalf("%d: pdfcpu decode: %v, %d bytes, want %d", i, err, len(sd.Content), len(content))
		}
	}
	if _, err := inflate([]byte("not zlib")); err == nil {
		t.Error("inflate accepted bytes that are not zlib")
	}
	if got, err := inflate(srgbICCFlate()); err != nil || !bytes.Equal(got, srgbICC) {
		t.Errorf("the shared ICC stream does not inflate to the profile: %v", err)
	}
}
