package export

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// documentText returns the text of a rendered PDF as a reader's tool extracts it:
// the strings shown by the text operators (Tj, TJ) of every page's content
// stream, in content-stream order, one line per operator, a form feed after each
// page. With squashed set, white space is left out (what the proof compares).
// The export's fonts are Identity-H encoded with code = Unicode code point
// (gofpdf writes UTF-16BE), so a string decodes without the font's ToUnicode map;
// a string that is not valid UTF-16 comes out as U+FFFD and fails the proof.
// ISO 32000-1 §9.4.3 (text-showing operators), §7.3.4.2 (literal strings).
func documentText(pdf []byte, squashed bool) (string, error) {
	b, err := extractText(pdf, squashed)
	return string(b), err
}

// extractText is documentText as bytes. It reads the export's own output
// through its classic xref table (pdfxref.go) and falls back to pdfcpu for any
// other file.
func extractText(pdf []byte, squashed bool) ([]byte, error) {
	x := &extractor{squash: squashed, b: make([]byte, 0, len(pdf))}
	f, err := openXRef(pdf)
	if err != nil {
		return x.viaPDFCPU(pdf)
	}
	pages, err := f.pages()
	if err != nil {
		return nil, err
	}
	for p, n := range pages {
		if n != 0 {
			raw, flate, err := f.stream(n)
			if err != nil {
				return nil, err
			}
			if !flate {
				return x.viaPDFCPU(pdf)
			}
			content, err := x.inflate(raw)
			if err != nil {
				return nil, fmt.Errorf("page %d content: %w", p+1, err)
			}
			x.page(content)
		}
		if !squashed {
			x.b = append(x.b, '\f')
		}
	}
	return x.b, nil
}

// viaPDFCPU extracts the text of any PDF pdfcpu reads.
func (x *extractor) viaPDFCPU(pdf []byte) ([]byte, error) {
	x.b = x.b[:0]
	ctx, err := api.ReadContext(bytes.NewReader(pdf), model.NewDefaultConfiguration())
	if err != nil {
		return nil, fmt.Errorf("read rendered PDF: %w", err)
	}
	if err := ctx.EnsurePageCount(); err != nil {
		return nil, fmt.Errorf("rendered PDF: page count: %w", err)
	}
	for p := 1; p <= ctx.PageCount; p++ {
		d, _, _, err := ctx.PageDict(p, false)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", p, err)
		}
		content, err := ctx.PageContent(d, p)
		if err != nil && err != model.ErrNoContent {
			return nil, fmt.Errorf("page %d content: %w", p, err)
		}
		x.page(content)
		if !x.squash {
			x.b = append(x.b, '\f')
		}
	}
	return x.b, nil
}

// extractor collects the shown strings of content streams.
type extractor struct {
	b       []byte
	squash  bool
	pending []byte // the string operands seen since the last operator
	zr      io.ReadCloser
	buf     []byte
}

// inflate decodes a FlateDecode stream (a zlib stream, RFC 1950) into one reused
// buffer. The proof's main cost is this inflation; the raw DEFLATE data (RFC 1951)
// is read without the Adler-32 check, because the file was written a moment ago
// by this process and a corrupt stream would show as missing text anyway.
func (x *extractor) inflate(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0]&0x0f != 8 || raw[1]&0x20 != 0 || (uint(raw[0])<<8|uint(raw[1]))%31 != 0 {
		return nil, errors.New("not a zlib stream without preset dictionary")
	}
	src := bytes.NewReader(raw[2:])
	if x.zr == nil {
		x.zr = flate.NewReader(src)
	} else if err := x.zr.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	// content streams deflate about tenfold; grow by doubling past that
	x.buf = x.buf[:0]
	if want := 12 * len(raw); cap(x.buf) < want {
		x.buf = make([]byte, 0, want)
	}
	for {
		if len(x.buf) == cap(x.buf) {
			x.buf = slices.Grow(x.buf, cap(x.buf))
		}
		n, err := x.zr.Read(x.buf[len(x.buf):cap(x.buf)])
		x.buf = x.buf[:len(x.buf)+n]
		if err == io.EOF {
			return x.buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// page appends the strings of the text-showing operators in a content stream.
// Strings are the only place a '(' occurs in the export's content streams (no
// comments, no inline images), so the scan jumps from one to the next and looks
// at the operator after each run of operands.
func (x *extractor) page(c []byte) {
	x.pending = x.pending[:0]
	i := 0
	for {
		k := bytes.IndexByte(c[i:], '(')
		if k < 0 {
			return
		}
		i += k
		i += x.literal(c[i:])
		i = x.operator(c, i)
	}
}

// operator reads what follows a string operand: more operands of a TJ array
// (numbers, strings, ']') are skipped, a text-showing operator writes the
// pending strings, any other operator drops them. It returns where to go on.
func (x *extractor) operator(c []byte, i int) int {
	for i < len(c) {
		switch ch := c[i]; {
		case ch == '(':
			return i
		case !regular[ch]:
			i++
		default:
			j := i
			for j < len(c) && regular[c[j]] {
				j++
			}
			tok := c[i:j]
			if isNumber(tok) {
				i = j
				continue
			}
			if showOp(tok) {
				x.show()
			} else {
				x.pending = x.pending[:0]
			}
			return j
		}
	}
	return i
}

// showOp reports whether tok is a text-showing operator: Tj, TJ, ' or ".
func showOp(tok []byte) bool {
	if len(tok) == 2 && tok[0] == 'T' {
		return tok[1] == 'j' || tok[1] == 'J'
	}
	return len(tok) == 1 && (tok[0] == '\'' || tok[0] == '"')
}

// show writes the pending operands, decoded from UTF-16BE.
func (x *extractor) show() {
	p := x.pending
	for i := 0; i+1 < len(p); i += 2 {
		r := rune(p[i])<<8 | rune(p[i+1])
		if utf16.IsSurrogate(r) && i+3 < len(p) {
			r = utf16.DecodeRune(r, rune(p[i+2])<<8|rune(p[i+3]))
			i += 2
		}
		if x.squash && unicode.IsSpace(r) {
			continue
		}
		x.b = utf8.AppendRune(x.b, r)
	}
	if !x.squash {
		x.b = append(x.b, '\n')
	}
	x.pending = x.pending[:0]
}

// regular marks the PDF regular characters (not white space, not a delimiter),
// ISO 32000-1 §7.2.2.
var regular = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, ch := range []byte(" \t\r\n\f\x00()<>[]{}/%") {
		t[ch] = false
	}
	return t
}()

// isNumber reports whether a token is a number (the kerning inside a TJ array).
func isNumber(tok []byte) bool {
	for _, ch := range tok {
		if (ch < '0' || ch > '9') && ch != '.' && ch != '-' && ch != '+' {
			return false
		}
	}
	return true
}

// literal decodes the literal string at the start of c (which is '(') onto the
// pending operands and returns the length consumed, §7.3.4.2: balanced
// parentheses, backslash escapes, octal codes.
func (x *extractor) literal(c []byte) int {
	depth := 0
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case ch == '(':
			if depth > 0 {
				x.pending = append(x.pending, ch)
			}
			depth++
		case ch == ')':
			depth--
			if depth == 0 {
				return i + 1
			}
			x.pending = append(x.pending, ch)
		case ch == '\\' && i+1 < len(c):
			i += x.escape(c[i+1:])
		default:
			x.pending = append(x.pending, ch)
		}
	}
	return len(c)
}

// escape decodes the escape sequence after a backslash and returns its length.
func (x *extractor) escape(c []byte) int {
	switch e := c[0]; e {
	case 'n':
		x.pending = append(x.pending, '\n')
	case 'r':
		x.pending = append(x.pending, '\r')
	case 't':
		x.pending = append(x.pending, '\t')
	case 'b':
		x.pending = append(x.pending, '\b')
	case 'f':
		x.pending = append(x.pending, '\f')
	case '\r': // line continuation
		if len(c) > 1 && c[1] == '\n' {
			return 2
		}
	case '\n':
	default:
		if e < '0' || e > '7' {
			x.pending = append(x.pending, e)
			return 1
		}
		v, k := 0, 0
		for ; k < 3 && k < len(c) && c[k] >= '0' && c[k] <= '7'; k++ {
			v = v*8 + int(c[k]-'0')
		}
		x.pending = append(x.pending, byte(v))
		return k
	}
	return 1
}
