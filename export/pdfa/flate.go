package pdfa

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// zlibWriters keeps compressors between streams and renderings. A fresh
// zlib.Writer allocates and zeroes about 1 MB of tables (compress/flate's
// compressor); gofpdf makes one per page, which was a fifth of a rendering's CPU
// (profile of BenchmarkRender/generated-standard, issue 16). Reset reuses them.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed) // a valid level never fails
	return w
}}

// deflate returns data zlib-compressed at BestSpeed, the level gofpdf uses.
func deflate(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data)/3 + 64)
	w := zlibWriters.Get().(*zlib.Writer)
	w.Reset(&buf)
	_, _ = w.Write(data) // a bytes.Buffer does not fail
	_ = w.Close()
	zlibWriters.Put(w)
	return buf.Bytes()
}

// zlibReaders keeps decompressors between streams (zlib.Resetter): a fresh
// reader allocates its 32 KB window and Huffman tables every time.
var zlibReaders sync.Pool

// inflate returns the zlib-compressed data decompressed.
func inflate(data []byte) ([]byte, error) {
	var r io.ReadCloser
	var err error
	if p, ok := zlibReaders.Get().(io.ReadCloser); ok {
		r, err = p, p.(zlib.Resetter).Reset(bytes.NewReader(data), nil)
	} else {
		r, err = zlib.NewReader(bytes.NewReader(data))
	}
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(4 * len(data))
	_, err = io.Copy(&out, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	zlibReaders.Put(r)
	return out.Bytes(), err
}

// flateStream returns a new stream object holding content under FlateDecode,
// compressed with a pooled compressor. pdfcpu's StreamDict.Encode does the same
// with a fresh compressor at the default level: about 1 MB of tables allocated
// and zeroed for every stream.
func flateStream(content []byte) types.StreamDict {
	return flateStreamRaw(deflate(content))
}

// flateStreamRaw is flateStream for content already compressed.
func flateStreamRaw(raw []byte) types.StreamDict {
	sd := types.StreamDict{Dict: types.NewDict(), Raw: raw,
		FilterPipeline: []types.PDFFilter{{Name: "FlateDecode"}}}
	n := int64(len(raw))
	sd.StreamLength = &n
	sd.InsertName("Filter", "FlateDecode")
	sd.InsertInt("Length", int(n))
	return sd
}

// compressContents applies FlateDecode to every page content stream that has no
// filter. The layout asks gofpdf for uncompressed pages (see export's layout) and
// the compression happens here with pooled compressors: the same streams and
// filter as before, without a new compressor per page. A stream that already has
// a filter is left as it is.
func compressContents(ctx *model.Context) error {
	for i := 1; i <= ctx.PageCount; i++ {
		page, _, _, err := ctx.PageDict(i, false)
		if err != nil {
			return fmt.Errorf("pdfa: page %d: %w", i, err)
		}
		var refs []types.IndirectRef
		switch c := page["Contents"].(type) {
		case types.IndirectRef:
			refs = append(refs, c)
		case types.Array:
			for _, o := range c {
				if r, ok := o.(types.IndirectRef); ok {
					refs = append(refs, r)
				}
			}
		}
		for _, r := range refs {
			if err := compressStream(ctx, r); err != nil {
				return fmt.Errorf("pdfa: page %d contents: %w", i, err)
			}
		}
	}
	return nil
}

func compressStream(ctx *model.Context, r types.IndirectRef) error {
	e, ok := ctx.FindTableEntry(r.ObjectNumber.Value(), r.GenerationNumber.Value())
	if !ok || e == nil || e.Free {
		return nil
	}
	sd, ok := e.Object.(types.StreamDict)
	if !ok || len(sd.FilterPipeline) > 0 {
		return nil
	}
	if _, filtered := sd.Find("Filter"); filtered {
		return nil
	}
	if sd.IndirectRefEntry("Length") != nil {
		return fmt.Errorf("object %d: indirect /Length", r.ObjectNumber.Value())
	}
	sd.Raw = deflate(sd.Raw)
	n := int64(len(sd.Raw))
	sd.StreamLength = &n
	sd.FilterPipeline = []types.PDFFilter{{Name: "FlateDecode"}}
	sd.Update("Filter", types.Name("FlateDecode"))
	sd.Update("Length", types.Integer(n))
	sd.Content = nil
	e.Object = sd
	return nil
}
