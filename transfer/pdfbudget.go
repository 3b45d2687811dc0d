package transfer

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/ascii85"
	"errors"
	"io"
)

// The decode budget of a received PDF. pdfcpu inflates cross-reference and
// object streams eagerly into memory while it reads a document, so a source can
// send 510 KB that pdfcpu turns into 1.79 GiB of heap (512 MiB of zeros, deflated
// 1000:1, into a growing buffer). Before pdfcpu sees the bytes, inflateBudget
// bounds what all streams together inflate to.
//
// Measured on our own renderer (export.Render of dossier.Generate, all
// categories): the standard dossier, 13 pages, is 77 KB and inflates to 881 KB
// (11.4 times); the large one, 420 pages, is 1.33 MB and inflates to 19.3 MB (14.5
// times), because table layout and text compress well. MedMij's example PDF
// inflates to 1.8 times its size. So the budget is 32 times the size, about twice
// the worst ratio seen; at least 16 MiB, so that a small document may carry a
// well-compressed image; at most 256 MiB, because 16 fetches run at once (our
// renderer stays under it up to about 17 MB, some 5,000 pages).
const (
	minInflateBudget    = 16 << 20
	inflateBudgetFactor = 32
	maxInflateBudget    = 256 << 20
	// maxFlateLayers is the deepest chain of FlateDecode filters the scan follows
	// ([/FlateDecode /FlateDecode] nests one zlib stream in another). Real
	// documents use one; a deeper chain is refused, since each layer can multiply
	// the size by 1000.
	maxFlateLayers = 3
	// maxStreamDecode is pdfcpu's limit on one decoded object stream (its default
	// is 512 MB), for filters the scan cannot see (LZWDecode, RunLengthDecode).
	// pdfcpu v0.15.0 applies it to object streams, not to a cross-reference
	// stream's filters. Object streams hold a few hundred objects; 16 MiB is
	// far beyond any a real writer makes.
	maxStreamDecode = 16 << 20
)

// inflateBudget is the most the streams of a document of size bytes may inflate to.
func inflateBudget(size int) int64 {
	return min(max(minInflateBudget, inflateBudgetFactor*int64(size)), maxInflateBudget)
}

// errOverBudget stops a decoder once the meter has run out; it never leaves this file.
var errOverBudget = errors.New("decode budget exceeded")

// meter counts the bytes the scan decodes against the budget.
type meter struct {
	left int64
	over bool
}

// metered counts what r produces; it reads at most one byte past the budget.
type metered struct {
	r io.Reader
	m *meter
}

func (mr metered) Read(p []byte) (int, error) {
	if mr.m.over {
		return 0, errOverBudget
	}
	if int64(len(p)) > mr.m.left+1 {
		p = p[:mr.m.left+1]
	}
	n, err := mr.r.Read(p)
	mr.m.left -= int64(n)
	if mr.m.left < 0 {
		mr.m.over = true
		return n, errOverBudget
	}
	return n, err
}

// overInflateBudget reports whether the streams of pdf inflate to more than
// budget bytes in all. It finds every "stream" keyword as pdfcpu does (optional
// spaces, then LF, CR or CRLF: nextStreamOffset in pdfcpu's read.go) and inflates
// from there into io.Discard: memory stays at a few zlib windows whatever the
// document claims. The data is tried as it is and under the two ASCII filters
// pdfcpu decodes before a FlateDecode ([/ASCIIHexDecode /FlateDecode], ASCII85
// likewise), because either would hide a zlib stream from a plain scan. Data that
// is not zlib (images, text) fails the two-byte zlib header and costs nothing.
// What the ASCII decoders read is counted too, so a document made of "stream"
// keywords cannot make the scan itself quadratic.
func overInflateBudget(pdf []byte, budget int64) bool {
	m := &meter{left: budget}
	for i := 0; ; {
		k := bytes.Index(pdf[i:], []byte("stream"))
		if k < 0 {
			return false
		}
		at := i + k
		i = at + len("stream")
		if at >= 3 && string(pdf[at-3:at]) == "end" {
			continue
		}
		data := pdf[streamStart(pdf, i):]
		inflateCount(bytes.NewReader(data), m, 0)
		// Compressed data starts with 'x' (0x78), which neither ASCII filter takes.
		c := firstNonSpace(data)
		if _, ok := hexValue(c); ok {
			inflateCount(&hexReader{r: metered{r: bytes.NewReader(data), m: m}}, m, 0)
		}
		if '!' <= c && c <= 'u' || c == 'z' {
			inflateCount(ascii85.NewDecoder(metered{r: &untilTilde{data: data}, m: m}), m, 0)
		}
		if m.over {
			return true
		}
	}
}

// streamStart is where the data after a "stream" keyword ending at i begins.
func streamStart(pdf []byte, i int) int {
	for i < len(pdf) && pdf[i] == ' ' {
		i++
	}
	if i < len(pdf) && pdf[i] == '\n' {
		return i + 1
	}
	if i < len(pdf) && pdf[i] == '\r' {
		i++
		if i < len(pdf) && pdf[i] == '\n' {
			i++
		}
	}
	return i
}

// firstNonSpace is the first byte of b that is not PDF white space, or 0.
func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0 {
			return c
		}
	}
	return 0
}

// inflateCount inflates r when it starts with a zlib header, counting the output and
// following nested zlib streams up to maxFlateLayers. Below the top layer, output
// that is not zlib is read to the end, so that every inflated byte is counted.
func inflateCount(r io.Reader, m *meter, depth int) {
	br := bufio.NewReaderSize(r, 4096)
	zr, err := zlib.NewReader(br)
	if err != nil {
		if depth > 0 {
			_, _ = io.Copy(io.Discard, br)
		}
		return
	}
	defer zr.Close()
	if depth == maxFlateLayers {
		m.over = true
		return
	}
	// A corrupt stream just ends the count for this stream; pdfcpu decides
	// whether the document is readable.
	inflateCount(metered{r: zr, m: m}, m, depth+1)
}

// hexReader decodes ASCIIHexDecode data (ISO 32000-1 §7.4.2) as pdfcpu does:
// white space is skipped, '>' ends it; it also ends at any other byte that is
// not a hex digit, where pdfcpu would fail.
type hexReader struct {
	r    io.Reader
	buf  [512]byte
	half int // a pending high nibble + 1, or 0
	done bool
}

func (h *hexReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && !h.done {
		k, err := h.r.Read(h.buf[:min(len(h.buf), 2*(len(p)-n))])
	scan:
		for _, c := range h.buf[:k] {
			v, ok := hexValue(c)
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			case !ok:
				h.done = true
				break scan
			case h.half == 0:
				h.half = int(v) + 1
			default:
				p[n] = byte(h.half-1)<<4 | v
				n++
				h.half = 0
			}
		}
		if err != nil {
			h.done = true
		}
	}
	if n == 0 && h.done {
		return 0, io.EOF
	}
	return n, nil
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// untilTilde reads data up to the first '~' (ASCII85Decode's "~>" end marker,
// ISO 32000-1 §7.4.3), in small pieces so the search stays linear.
type untilTilde struct{ data []byte }

func (u *untilTilde) Read(p []byte) (int, error) {
	if len(u.data) == 0 {
		return 0, io.EOF
	}
	chunk := u.data[:min(len(u.data), len(p))]
	if k := bytes.IndexByte(chunk, '~'); k >= 0 {
		chunk = chunk[:k]
		u.data = nil
	} else {
		u.data = u.data[len(chunk):]
	}
	return copy(p, chunk), nil
}
